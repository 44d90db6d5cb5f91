//! Helpers on the contract's setting types: reading values and building results.

use crate::{CapabilityError, Setting, SettingResult, SettingStatus, SettingValue};

impl SettingValue {
    /// The value as an integer, if it is one.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            SettingValue::Integer(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a boolean, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            SettingValue::Boolean(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as text, if it is text (secrets are not returned here; see
    /// [`SettingValue::as_secret`]).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SettingValue::Text(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a list of text, if it is one.
    pub fn as_text_list(&self) -> Option<&[String]> {
        match self {
            SettingValue::TextList(v) => Some(v),
            _ => None,
        }
    }

    /// The secret, if the value is one. Never log it.
    pub fn as_secret(&self) -> Option<&str> {
        match self {
            SettingValue::Secret(v) => Some(v),
            _ => None,
        }
    }

    /// A short description of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            SettingValue::Integer(_) => "integer",
            SettingValue::Boolean(_) => "boolean",
            SettingValue::Text(_) => "text",
            SettingValue::TextList(_) => "text list",
            SettingValue::IntegerList(_) => "integer list",
            SettingValue::Secret(_) => "secret",
        }
    }
}

impl Setting {
    /// A result for this setting with `status` and no message; fill in the rest with struct
    /// update syntax (`SettingResult { message: Some(..), ..setting.result_with(status) }`).
    pub fn result_with(&self, status: SettingStatus) -> SettingResult {
        self.result(status, None)
    }

    fn result(&self, status: SettingStatus, message: Option<String>) -> SettingResult {
        SettingResult {
            id: self.id.clone(),
            group: self.group.clone(),
            status,
            message,
            code: None,
        }
    }

    /// The device already had the desired value.
    pub fn compliant(&self) -> SettingResult {
        self.result(SettingStatus::Compliant, None)
    }

    /// The device was changed to the desired value.
    pub fn remediated(&self) -> SettingResult {
        self.result(SettingStatus::Remediated, None)
    }

    /// `remediated` when `changed`, else `compliant`.
    pub fn enforced(&self, changed: bool) -> SettingResult {
        if changed {
            self.remediated()
        } else {
            self.compliant()
        }
    }

    /// The value is in place where its consumer reads it, but that consumer (the firewall,
    /// Windows Security, ...) cannot be asked whether it applies it: `compliant`/`remediated`
    /// carrying the code [`UNCONFIRMED`] and the message "written; `why`" (or "already in
    /// place; `why`"), `why` saying what was not asked, e.g. "Windows Firewall not queried".
    /// The host reports such a setting `unknown` with that message and counts it apart from
    /// the confirmed ones, so "compliant" always means confirmed.
    pub fn unconfirmed(&self, changed: bool, why: &str) -> SettingResult {
        let (status, done) = if changed {
            (SettingStatus::Remediated, "written")
        } else {
            (SettingStatus::Compliant, "already in place")
        };
        SettingResult {
            code: Some(UNCONFIRMED),
            ..self.result(status, Some(format!("{done}; {why}")))
        }
    }

    /// The setting could not be enforced.
    pub fn error(&self, message: impl Into<String>) -> SettingResult {
        self.result(SettingStatus::Error, Some(message.into()))
    }

    /// The setting could not be enforced, with a machine-readable code.
    pub fn error_with_code(&self, message: impl Into<String>, code: i32) -> SettingResult {
        SettingResult {
            code: Some(code),
            ..self.error(message)
        }
    }

    /// The setting does not apply to this device.
    pub fn not_applicable(&self, reason: impl Into<String>) -> SettingResult {
        self.result(SettingStatus::NotApplicable, Some(reason.into()))
    }
}

/// The result code that marks a `compliant`/`remediated` result as *unconfirmed*: the value is
/// in place, but no component that consumes it was asked (see [`Setting::unconfirmed`]). The
/// host turns such a result into the Intune status `unknown`. The number spells "RM" and 1, far
/// from Win32 errors and HRESULTs.
pub const UNCONFIRMED: i32 = 0x524D_0001;

impl SettingResult {
    /// Whether the value is in place but its consumer was not asked (see
    /// [`Setting::unconfirmed`]).
    pub fn is_unconfirmed(&self) -> bool {
        self.code == Some(UNCONFIRMED)
            && matches!(
                self.status,
                SettingStatus::Compliant | SettingStatus::Remediated
            )
    }
}

impl CapabilityError {
    /// A one-line, human-readable description (the generated `Display` is a debug dump).
    pub fn message(&self) -> String {
        match self {
            CapabilityError::AccessDenied(t) => format!("access denied: {t}"),
            CapabilityError::InvalidArgument(m) => format!("invalid argument: {m}"),
            CapabilityError::NotFound(t) => format!("not found: {t}"),
            CapabilityError::TamperProtected(t) => format!("blocked by tamper protection: {t}"),
            CapabilityError::Unavailable(m) => format!("unavailable: {m}"),
            CapabilityError::Failed(m) => format!("failed: {m}"),
        }
    }
}
