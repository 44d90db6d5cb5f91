//! Typed registry values.

/// A registry value, one variant per registry type rampart supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegValue {
    /// REG_DWORD.
    Dword(u32),
    /// REG_QWORD.
    Qword(u64),
    /// REG_SZ.
    Sz(String),
    /// REG_EXPAND_SZ (stored unexpanded).
    ExpandSz(String),
    /// REG_MULTI_SZ.
    MultiSz(Vec<String>),
    /// REG_BINARY.
    Binary(Vec<u8>),
}

impl RegValue {
    /// The registry type's name, e.g. `REG_DWORD`.
    pub fn type_name(&self) -> &'static str {
        match self {
            RegValue::Dword(_) => "REG_DWORD",
            RegValue::Qword(_) => "REG_QWORD",
            RegValue::Sz(_) => "REG_SZ",
            RegValue::ExpandSz(_) => "REG_EXPAND_SZ",
            RegValue::MultiSz(_) => "REG_MULTI_SZ",
            RegValue::Binary(_) => "REG_BINARY",
        }
    }

    /// Why this value cannot be stored faithfully, if it cannot: a string holding NUL (every
    /// reader would cut it short) or an empty `REG_MULTI_SZ` element (it would end the list).
    pub fn problem(&self) -> Option<&'static str> {
        super::raw::value_problem(self)
    }

    /// The bytes the value's data takes (strings without terminators, each `REG_MULTI_SZ`
    /// element with one): what write budgets and size caps count.
    pub fn data_len(&self) -> usize {
        match self {
            RegValue::Dword(_) => 4,
            RegValue::Qword(_) => 8,
            RegValue::Sz(s) | RegValue::ExpandSz(s) => s.len(),
            RegValue::MultiSz(l) => l.iter().map(|s| s.len() + 1).sum(),
            RegValue::Binary(b) => b.len(),
        }
    }
}

impl std::fmt::Display for RegValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegValue::Dword(v) => write!(f, "REG_DWORD {v}"),
            RegValue::Qword(v) => write!(f, "REG_QWORD {v}"),
            RegValue::Sz(v) => write!(f, "REG_SZ {v:?}"),
            RegValue::ExpandSz(v) => write!(f, "REG_EXPAND_SZ {v:?}"),
            RegValue::MultiSz(v) => write!(f, "REG_MULTI_SZ {v:?}"),
            RegValue::Binary(v) => write!(f, "REG_BINARY {} bytes", v.len()),
        }
    }
}
