//! Windows Firewall rules: from the items of the Intune Firewall Rules group to rule strings in
//! the firewall's MDM store.
//!
//! Each item of the group collection `vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}`
//! is one rule; its settings (`_name`, `_direction`, `_protocol`, ...) arrive as separate settings
//! that share the item's group position. A rule becomes one REG_SZ value under [`RULES_KEY`],
//! named by the rule's name, whose data is the rule in the Windows firewall rule grammar of
//! [MS-GPFAS] section 2.2.2.19 (the grammar Group Policy uses for its own store):
//!
//! ```text
//! v2.20|Action=Allow|Active=TRUE|Dir=In|Protocol=6|LPort=443|App=C:\app.exe|Name=Web|
//! ```
//!
//! [`Rule::encode`] refuses — never writes — anything that grammar cannot carry or that the
//! firewall rejects: a missing or unusable name, a protocol outside 0–255, a port or address that
//! does not parse, ports on a protocol other than TCP and UDP, a `|` or control character in any
//! text, edge traversal on an outbound rule. The plugin then reports every setting of that rule
//! as `error` and enforces the other rules.
//!
//! Unverified (see the plugin README): that the MDM store lives at [`RULES_KEY`], that it uses
//! this grammar, that its value names are the rule names, and the schema version written.
//!
//! [MS-GPFAS]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-gpfas/2efe0b76-7b4a-41ff-9050-1023f8196d16

use std::net::{IpAddr, Ipv4Addr};

use rampart_sdk::SettingValue;
use sha2::{Digest, Sha256};

/// The Firewall Rules group collection.
pub const GROUP: &str = "vendor_msft_firewall_mdmstore_firewallrules_{firewallrulename}";

/// Where the MDM store keeps its rules, one value per rule.
pub const RULES_KEY: &str = r"HKLM\SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\Mdm\FirewallRules";

/// The rule schema version written. Every token this encoder emits exists in version 2.20
/// (Windows 8 and later; the Firewall CSP needs Windows 10 1709), and a firewall reads rules of
/// its own version or older, so the oldest version that carries them is the safest to write.
pub const VERSION: &str = "v2.20";

/// The highest port number (MS-GPFAS 2.2.2.2).
const MAX_PORT: u32 = 65_535;

/// FW_PROFILE_TYPE_ALL: every profile.
const ALL_PROFILES: i64 = 0x7FFF_FFFF;

/// The three real profile bits, with their rule-string tokens (MS-GPFAS 2.2.2.1).
const PROFILES: [(i64, &str); 3] = [(1, "Domain"), (2, "Private"), (4, "Public")];

/// A rule as the policy describes it, before validation. Absent fields take the Firewall CSP's
/// defaults: enabled, allow, outbound, any protocol, all profiles and interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// `_name`: the rule's name, also the registry value name.
    pub name: Option<String>,
    /// `_description`.
    pub description: Option<String>,
    /// `_enabled`.
    pub enabled: Option<bool>,
    /// `_direction`: `IN` or `OUT`.
    pub direction: Option<String>,
    /// `_action_type`: 0 block, 1 allow.
    pub action: Option<i64>,
    /// `_protocol`: the IP protocol number.
    pub protocol: Option<i64>,
    /// `_localportranges`: ports and `begin-end` ranges (an item may hold several, comma
    /// separated, as the CSP node does).
    pub local_ports: Vec<String>,
    /// `_remoteportranges`.
    pub remote_ports: Vec<String>,
    /// `_localaddressranges`: addresses, `begin-end` ranges, subnets (`a/prefix`, `a/mask`).
    pub local_addresses: Vec<String>,
    /// `_remoteaddressranges`: as local, plus the keywords `LocalSubnet`, `DNS`, `DHCP`,
    /// `WINS`, `DefaultGateway`, `Intranet`, `RmtIntranet`, `Internet`, `Ply2Renders`.
    pub remote_addresses: Vec<String>,
    /// `_interfacetypes`: `All`, `Lan`, `Wireless`, `RemoteAccess`.
    pub interface_types: Vec<String>,
    /// `_profiles`: FW_PROFILE_TYPE bits (1 domain, 2 private, 4 public, 0x7FFFFFFF all), ORed.
    pub profiles: Option<Vec<i64>>,
    /// `_edgetraversal`.
    pub edge_traversal: Option<bool>,
    /// `_app_filepath`.
    pub app_file_path: Option<String>,
    /// `_app_packagefamilyname`.
    pub app_package_family_name: Option<String>,
    /// `_app_servicename`.
    pub app_service_name: Option<String>,
}

/// A rule ready to write: the registry value name and the rule string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedRule {
    /// The value name under [`RULES_KEY`] (the rule's name).
    pub value_name: String,
    /// The rule string.
    pub data: String,
}

impl Rule {
    /// Sets the field a group child stands for, from its setting id and value. The error names
    /// the field and what was wrong.
    pub fn set_field(&mut self, id: &str, value: &SettingValue) -> Result<(), String> {
        let field = id
            .strip_prefix(GROUP)
            .and_then(|rest| rest.strip_prefix('_'))
            .ok_or_else(|| format!("'{id}' is not a setting of a firewall rule"))?;
        let text = || {
            value
                .as_text()
                .map(str::to_owned)
                .ok_or_else(|| format!("{field}: expected text, got {}", value.kind_name()))
        };
        let list = || {
            value.as_text_list().map(<[String]>::to_vec).ok_or_else(|| {
                format!(
                    "{field}: expected a list of text, got {}",
                    value.kind_name()
                )
            })
        };
        let integer = || {
            value
                .as_integer()
                .ok_or_else(|| format!("{field}: expected an integer, got {}", value.kind_name()))
        };
        let flag = || match (value.as_integer(), value.as_bool()) {
            (Some(1), _) | (_, Some(true)) => Ok(true),
            (Some(0), _) | (_, Some(false)) => Ok(false),
            _ => Err(format!("{field}: expected 0 or 1, got {value:?}")),
        };
        let duplicate = || Err(format!("{field} is given twice"));
        macro_rules! once {
            ($slot:expr, $value:expr) => {{
                if $slot.is_some() {
                    return duplicate();
                }
                $slot = Some($value?);
            }};
        }
        macro_rules! once_list {
            ($slot:expr, $value:expr) => {{
                if !$slot.is_empty() {
                    return duplicate();
                }
                $slot = $value?;
            }};
        }
        match field {
            "name" => once!(self.name, text()),
            "description" => once!(self.description, text()),
            "enabled" => once!(self.enabled, flag()),
            "direction" => once!(self.direction, text()),
            "action_type" => once!(self.action, integer()),
            "protocol" => once!(self.protocol, integer()),
            "localportranges" => once_list!(self.local_ports, list()),
            "remoteportranges" => once_list!(self.remote_ports, list()),
            "localaddressranges" => once_list!(self.local_addresses, list()),
            "remoteaddressranges" => once_list!(self.remote_addresses, list()),
            "interfacetypes" => once_list!(self.interface_types, list()),
            "profiles" => {
                let bits = match value {
                    SettingValue::IntegerList(bits) => Ok(bits.clone()),
                    SettingValue::Integer(mask) => Ok(vec![*mask]),
                    other => Err(format!(
                        "profiles: expected profile bits, got {}",
                        other.kind_name()
                    )),
                };
                once!(self.profiles, bits)
            }
            "edgetraversal" => once!(self.edge_traversal, flag()),
            "app_filepath" => once!(self.app_file_path, text()),
            "app_packagefamilyname" => once!(self.app_package_family_name, text()),
            "app_servicename" => once!(self.app_service_name, text()),
            other => return Err(format!("the rule setting '{other}' is not supported")),
        }
        Ok(())
    }

    /// The rule's name for messages: quoted, or a placeholder when it has none.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("firewall rule '{}'", shown(name)),
            None => "a firewall rule without a name".to_owned(),
        }
    }

    /// Validates the rule and writes it in the rule grammar. The error is one line naming the
    /// field and the problem.
    pub fn encode(&self) -> Result<EncodedRule, String> {
        let name = self.name.as_deref().ok_or("the rule has no name")?;
        check_text("name", name)?;
        if name.trim().is_empty() {
            return Err("the rule name is empty".to_owned());
        }
        if name.contains('/') {
            // The Firewall CSP's own rule: a rule name "must not include a forward slash".
            return Err(format!("the rule name '{name}' contains '/'"));
        }

        let mut out = Fields::new();
        out.push(
            "Action",
            match self.action {
                None | Some(1) => "Allow",
                Some(0) => "Block",
                Some(other) => return Err(format!("action {other} is not 0 (block) or 1 (allow)")),
            },
        );
        out.push("Active", bool_token(self.enabled.unwrap_or(true)));
        let inbound = match self.direction.as_deref() {
            None => false,
            Some(d) if d.eq_ignore_ascii_case("in") => true,
            Some(d) if d.eq_ignore_ascii_case("out") => false,
            Some(other) => return Err(format!("direction '{other}' is not IN or OUT")),
        };
        out.push("Dir", if inbound { "In" } else { "Out" });
        if let Some(protocol) = self.protocol {
            if !(0..=255).contains(&protocol) {
                return Err(format!(
                    "protocol {protocol} is not a protocol number (0–255)"
                ));
            }
            out.push("Protocol", &protocol.to_string());
        }
        for profile in profile_tokens(self.profiles.as_deref())? {
            out.push("Profile", profile);
        }

        let local_ports = parse_ports("local port", &self.local_ports)?;
        let remote_ports = parse_ports("remote port", &self.remote_ports)?;
        if (!local_ports.is_empty() || !remote_ports.is_empty())
            && !matches!(self.protocol, Some(6 | 17))
        {
            let protocol = self
                .protocol
                .map_or("no protocol".to_owned(), |p| format!("protocol {p}"));
            return Err(format!(
                "ports are given with {protocol}; ports need protocol 6 (TCP) or 17 (UDP)"
            ));
        }
        for (token, ports) in [("LPort", &local_ports), ("RPort", &remote_ports)] {
            for &(begin, end) in ports {
                if begin == end {
                    out.push(token, &begin.to_string());
                } else {
                    // A range needs the 2.10 token (MS-GPFAS 2.2.2.19): "LPort=" takes
                    // one port only.
                    out.push(&format!("{token}2_10"), &format!("{begin}-{end}"));
                }
            }
        }

        let local = parse_addresses("local address", &self.local_addresses, false)?;
        let remote = parse_addresses("remote address", &self.remote_addresses, true)?;
        local.write(&mut out, "L");
        remote.write(&mut out, "R");

        for interface in interface_tokens(&self.interface_types)? {
            out.push("IFType", interface);
        }
        // An empty app condition would leave the token out and widen the rule to every app.
        if let Some(path) = &self.app_file_path {
            check_condition("app file path", path)?;
            out.push("App", path);
        }
        if let Some(service) = &self.app_service_name {
            check_condition("service name", service)?;
            out.push("Svc", service);
        }
        let package = match &self.app_package_family_name {
            Some(family) => {
                check_condition("package family name", family)?;
                Some(package_sid(family)?)
            }
            None => None,
        };
        out.push_text("Name", name);
        if let Some(description) = &self.description {
            check_text("description", description)?;
            out.push_text("Desc", description);
        }
        if let Some(sid) = &package {
            out.push("AppPkgId", sid);
        }
        if self.edge_traversal == Some(true) {
            if !inbound {
                return Err("edge traversal applies to inbound rules only".to_owned());
            }
            out.push("Edge", "TRUE");
        }
        Ok(EncodedRule {
            value_name: name.to_owned(),
            data: out.finish(),
        })
    }
}

/// The package SID a rule names a Store app package by (`AppPkgId=`), from its package family
/// name (`Name_PublisherId`): `S-1-15-2-` and the first 28 bytes of the SHA-256 of the family
/// name in lower case, UTF-16LE, as seven little-endian numbers. That is how Windows derives an
/// AppContainer SID from its name; the native tests check it against the SID firewall rules
/// carry for a known package.
pub fn package_sid(family_name: &str) -> Result<String, String> {
    let valid = family_name
        .split_once('_')
        .is_some_and(|(name, publisher)| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                && publisher.len() == 13
                && publisher.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !valid {
        return Err(format!(
            "'{}' is not a package family name (Name_PublisherId)",
            shown(family_name)
        ));
    }
    let utf16: Vec<u8> = family_name
        .to_ascii_lowercase()
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let hash = Sha256::digest(&utf16);
    let mut sid = String::from("S-1-15-2");
    for chunk in hash.chunks_exact(4).take(7) {
        let word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        sid.push('-');
        sid.push_str(&word.to_string());
    }
    Ok(sid)
}

/// The rule string being built: `v<version>|` then `Token=value|` per field.
struct Fields(String);

impl Fields {
    fn new() -> Self {
        Fields(format!("{VERSION}|"))
    }

    fn push(&mut self, token: &str, value: &str) {
        self.0.push_str(token);
        self.0.push('=');
        self.0.push_str(value);
        self.0.push('|');
    }

    /// A text field; empty text is left out (the grammar's strings have at least one
    /// character).
    fn push_text(&mut self, token: &str, value: &str) {
        if !value.is_empty() {
            self.push(token, value);
        }
    }

    fn finish(self) -> String {
        self.0
    }
}

fn bool_token(on: bool) -> &'static str {
    if on { "TRUE" } else { "FALSE" }
}

/// Text that goes into the rule string: `|` ends a field and control characters (NUL above
/// all, which ends a REG_SZ early) would corrupt the value.
fn check_text(field: &str, text: &str) -> Result<(), String> {
    if let Some(bad) = text.chars().find(|c| *c == '|' || c.is_control()) {
        return Err(format!(
            "the {field} '{}' contains {}, which the rule string cannot carry",
            shown(text),
            if bad == '|' {
                "'|'".to_owned()
            } else {
                format!("the control character {}", bad.escape_default())
            }
        ));
    }
    Ok(())
}

/// Text for a message: control characters escaped so the message stays one line, the rest
/// (backslashes of paths above all) as it is.
pub fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Text of a condition that narrows the rule: carried by the rule string, and not empty.
fn check_condition(field: &str, text: &str) -> Result<(), String> {
    check_text(field, text)?;
    if text.trim().is_empty() {
        return Err(format!(
            "the {field} is empty, which would apply the rule to everything"
        ));
    }
    Ok(())
}

/// The `Profile=` tokens of a profile selection: none for all profiles (the grammar's default).
fn profile_tokens(bits: Option<&[i64]>) -> Result<Vec<&'static str>, String> {
    let Some(bits) = bits.filter(|b| !b.is_empty()) else {
        return Ok(Vec::new());
    };
    if bits.contains(&ALL_PROFILES) {
        return Ok(Vec::new());
    }
    let mut mask = 0;
    for &bit in bits {
        if bit <= 0 || bit & !7 != 0 {
            return Err(format!(
                "profile value {bit} is not a combination of 1 (domain), 2 (private), 4 (public) or 2147483647 (all)"
            ));
        }
        mask |= bit;
    }
    if mask == 7 {
        return Ok(Vec::new());
    }
    Ok(PROFILES
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, token)| *token)
        .collect())
}

/// The `IFType=` tokens: none for all interface types.
fn interface_tokens(types: &[String]) -> Result<Vec<&'static str>, String> {
    let mut tokens = Vec::new();
    for t in types {
        let token = match t.to_ascii_lowercase().as_str() {
            "all" => return Ok(Vec::new()),
            "lan" => "Lan",
            "wireless" => "Wireless",
            "remoteaccess" => "RemoteAccess",
            _ => {
                return Err(format!(
                    "interface type '{t}' is not All, Lan, Wireless or RemoteAccess"
                ));
            }
        };
        if !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    Ok(tokens)
}

/// Port ranges `(begin, end)`; an empty result is any port. `*` alone is any port too.
fn parse_ports(what: &str, items: &[String]) -> Result<Vec<(u32, u32)>, String> {
    let tokens: Vec<&str> = items
        .iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .collect();
    if tokens == ["*"] {
        return Ok(Vec::new());
    }
    let port = |text: &str| -> Result<u32, String> {
        if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{what} '{text}' is not a port number"));
        }
        let n: u32 = text
            .parse()
            .map_err(|_| format!("{what} '{text}' is not a port number"))?;
        if n > MAX_PORT {
            return Err(format!("{what} {n} is above {MAX_PORT}"));
        }
        Ok(n)
    };
    let mut ranges = Vec::new();
    for token in tokens {
        if token == "*" {
            return Err(format!("{what} '*' (any) must be the only entry"));
        }
        let range = match token.split_once('-') {
            Some((begin, end)) => {
                let (begin, end) = (port(begin.trim())?, port(end.trim())?);
                if begin > end {
                    return Err(format!("{what} range '{token}' ends before it begins"));
                }
                (begin, end)
            }
            None => {
                let p = port(token)?;
                (p, p)
            }
        };
        if !ranges.contains(&range) {
            ranges.push(range);
        }
    }
    Ok(ranges)
}

/// Address keywords of remote addresses: (name as the CSP spells it, rule token, whether the
/// keyword is one of version 2.20, written as `RA42=`/`RA62=`) (MS-GPFAS 2.2.2.13).
const ADDRESS_KEYWORDS: [(&str, &str, bool); 9] = [
    ("LocalSubnet", "LocalSubnet", false),
    ("DNS", "DNS", false),
    ("DHCP", "DHCP", false),
    ("WINS", "WINS", false),
    ("DefaultGateway", "DefaultGateway", false),
    ("Intranet", "IntrAnet", true),
    ("RmtIntranet", "RmtIntrAnet", true),
    ("Internet", "IntErnet", true),
    ("Ply2Renders", "Ply2Renders", true),
];

/// Parsed addresses, by rule token family, in the policy's order.
#[derive(Default)]
struct Addresses {
    v4: Vec<String>,
    v6: Vec<String>,
    /// Keywords of both families (`RA4=` and `RA6=`).
    keywords: Vec<&'static str>,
    /// Version 2.20 keywords (`RA42=` and `RA62=`).
    keywords_2_20: Vec<&'static str>,
}

impl Addresses {
    /// Appends the tokens: `<side>A4=`, `<side>A6=`, then the keywords of both families.
    fn write(&self, out: &mut Fields, side: &str) {
        for a in &self.v4 {
            out.push(&format!("{side}A4"), a);
        }
        for kw in &self.keywords {
            out.push(&format!("{side}A4"), kw);
        }
        for kw in &self.keywords_2_20 {
            out.push(&format!("{side}A42"), kw);
        }
        for a in &self.v6 {
            out.push(&format!("{side}A6"), a);
        }
        for kw in &self.keywords {
            out.push(&format!("{side}A6"), kw);
        }
        for kw in &self.keywords_2_20 {
            out.push(&format!("{side}A62"), kw);
        }
    }
}

fn parse_addresses(what: &str, items: &[String], remote: bool) -> Result<Addresses, String> {
    let tokens: Vec<&str> = items
        .iter()
        .flat_map(|item| item.split(','))
        .map(str::trim)
        .collect();
    let mut out = Addresses::default();
    if tokens == ["*"] {
        return Ok(out);
    }
    for token in tokens {
        if token == "*" {
            return Err(format!("{what} '*' (any) must be the only entry"));
        }
        if let Some((_, kw, v2_20)) = ADDRESS_KEYWORDS
            .iter()
            .find(|(name, ..)| name.eq_ignore_ascii_case(token))
        {
            if !remote {
                return Err(format!(
                    "{what} '{token}' is a keyword, which only remote addresses take"
                ));
            }
            let list = if *v2_20 {
                &mut out.keywords_2_20
            } else {
                &mut out.keywords
            };
            if !list.contains(kw) {
                list.push(kw);
            }
            continue;
        }
        let (text, v6) = parse_address(what, token)?;
        let list = if v6 { &mut out.v6 } else { &mut out.v4 };
        if !list.contains(&text) {
            list.push(text);
        }
    }
    Ok(out)
}

/// One address token as written in the rule string, and whether it is IPv6: a single address,
/// a `begin-end` range of one family, or a subnet `address/prefix` (IPv4 also
/// `address/mask`). Addresses are rewritten in their canonical form.
fn parse_address(what: &str, token: &str) -> Result<(String, bool), String> {
    let bad = |why: &str| format!("{what} '{token}' {why}");
    let ip = |text: &str| -> Result<IpAddr, String> {
        text.trim()
            .parse::<IpAddr>()
            .map_err(|_| bad("is not an IP address, range, subnet or keyword"))
    };
    if let Some((address, suffix)) = token.split_once('/') {
        let address = ip(address)?;
        let suffix = suffix.trim();
        let max = if address.is_ipv4() { 32 } else { 128 };
        if !suffix.is_empty() && suffix.len() <= 3 && suffix.bytes().all(|b| b.is_ascii_digit()) {
            let prefix: u32 = suffix.parse().map_err(|_| bad("has a bad prefix length"))?;
            if prefix > max {
                return Err(bad(&format!("has a prefix length above {max}")));
            }
            // A full-length prefix is one address; the grammar's prefix lengths are shorter.
            return Ok(if prefix == max {
                (address.to_string(), address.is_ipv6())
            } else {
                (format!("{address}/{prefix}"), address.is_ipv6())
            });
        }
        let mask = match (address, suffix.parse::<Ipv4Addr>()) {
            (IpAddr::V4(_), Ok(mask)) => mask,
            _ => return Err(bad("has a bad prefix length or mask")),
        };
        let bits = u32::from(mask);
        if bits.leading_ones() + bits.trailing_zeros() != 32 {
            return Err(bad("has a mask that is not contiguous"));
        }
        return Ok((format!("{address}/{mask}"), false));
    }
    if let Some((begin, end)) = token.split_once('-') {
        let (begin, end) = (ip(begin)?, ip(end)?);
        let ordered = match (begin, end) {
            (IpAddr::V4(b), IpAddr::V4(e)) => u32::from(b) <= u32::from(e),
            (IpAddr::V6(b), IpAddr::V6(e)) => u128::from(b) <= u128::from(e),
            _ => return Err(bad("mixes IPv4 and IPv6")),
        };
        if !ordered {
            return Err(bad("ends before it begins"));
        }
        return Ok((format!("{begin}-{end}"), begin.is_ipv6()));
    }
    let address = ip(token)?;
    Ok((address.to_string(), address.is_ipv6()))
}
