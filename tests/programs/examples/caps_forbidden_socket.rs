//! Opens a TCP connection, so the component imports wasi:sockets: it must be refused at load.

use rampart_sdk::{Device, Plugin, Setting, SettingResult};

struct Socket;

impl Plugin for Socket {
    fn apply(_device: Device, settings: Vec<Setting>) -> Vec<SettingResult> {
        let connected = std::net::TcpStream::connect("127.0.0.1:9").is_ok();
        settings
            .iter()
            .map(|s| {
                if connected {
                    s.remediated()
                } else {
                    s.error("no network")
                }
            })
            .collect()
    }
}

rampart_sdk::export_plugin!(
    Socket,
    manifest = r#"[plugin]
name = "caps-forbidden-socket"
version = "0.1.0"
platforms = ["windows-client", "windows-server", "linux", "macos"]
settings = ["test_*"]"#
);
