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
