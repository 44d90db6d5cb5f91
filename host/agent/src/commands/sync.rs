//! `rampart sync`: ask the running agent for an enforcement pass now and print its outcome.

use std::path::Path;

use crate::BadInput;
#[cfg(unix)]
use crate::state::StateDir;

#[cfg(unix)]
pub(crate) fn run(
    state: Option<&Path>,
    json: bool,
    timeout: std::time::Duration,
) -> anyhow::Result<u8> {
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::os::unix::net::UnixStream;

    use super::run::PassSummary;

    let state = StateDir::resolve(state);
    let path = state.socket_file();
    let mut stream = UnixStream::connect(&path).map_err(|e| {
        BadInput(format!(
            "no agent is listening on '{}' ({e}); start one with `rampart run`",
            path.display()
        ))
    })?;
    // A stopped (or wedged) agent accepts the connection but never answers.
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let no_answer = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            anyhow::anyhow!(
                "the agent on '{}' did not answer within {} (is it stopped or hung?); see `rampart status` for its last pass",
                path.display(),
                humantime::format_duration(timeout)
            )
        } else {
            anyhow::Error::new(e)
                .context(format!("cannot talk to the agent on '{}'", path.display()))
        }
    };
    stream.write_all(b"sync\n").map_err(no_answer)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(no_answer)?;
    let summary: PassSummary = serde_json::from_str(line.trim())
        .map_err(|e| anyhow::anyhow!("unexpected answer from the agent: {e}: {}", line.trim()))?;
    if json {
        println!("{}", line.trim());
    } else {
        let counts: Vec<String> = summary
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        println!(
            "pass finished {}: {}",
            summary.generated_at,
            counts.join(", ")
        );
        if let Some(e) = &summary.error {
            println!("error: {e}");
        }
    }
    Ok(summary.exit_code)
}

#[cfg(not(unix))]
pub(crate) fn run(
    _state: Option<&Path>,
    _json: bool,
    _timeout: std::time::Duration,
) -> anyhow::Result<u8> {
    Err(
        BadInput("`rampart sync` needs a Unix socket; not available on this platform yet".into())
            .into(),
    )
}
