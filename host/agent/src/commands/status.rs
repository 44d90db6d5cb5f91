//! `rampart status`: print the latest report from the state directory.

use std::path::Path;

use anyhow::Context;
use rampart_runtime::DeviceReport;

use crate::state::StateDir;
use crate::{BadInput, output};

pub(crate) fn run(state: Option<&Path>, json: bool) -> anyhow::Result<u8> {
    let state = StateDir::resolve(state);
    let path = state.report_file();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        BadInput(format!(
            "no report at '{}' ({e}); run `rampart apply` or `rampart run` first",
            path.display()
        ))
    })?;
    let report: DeviceReport = serde_json::from_str(&text)
        .with_context(|| format!("'{}' is not a rampart report", path.display()))?;
    if json {
        println!("{text}");
    } else {
        output::print_table(&report, state.root());
    }
    Ok(super::apply::exit_code(&report))
}
