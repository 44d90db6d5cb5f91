//! Registry value data as the registry stores it: a type code and bytes.
//!
//! Shared by the `.reg` format (whose `hex(N):` lines are raw data) and the Windows backend,
//! so both agree on how strings are terminated and how `REG_MULTI_SZ` ends.

use super::RegValue;

pub(crate) const REG_SZ: u32 = 1;
pub(crate) const REG_EXPAND_SZ: u32 = 2;
pub(crate) const REG_BINARY: u32 = 3;
pub(crate) const REG_DWORD: u32 = 4;
pub(crate) const REG_MULTI_SZ: u32 = 7;
pub(crate) const REG_QWORD: u32 = 11;

/// Why raw data could not become a [`RegValue`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RawError {
    #[error("unsupported value type {0}")]
    UnsupportedType(u32),
    #[error("{ty} data must be {expected} bytes, found {found}")]
    Length {
        ty: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("{ty} data has an odd number of bytes ({found}); UTF-16 needs pairs")]
    OddLength { ty: &'static str, found: usize },
    #[error("{ty} data is not valid UTF-16")]
    InvalidUtf16 { ty: &'static str },
}

/// The registry type code of a value.
pub(crate) fn type_code(value: &RegValue) -> u32 {
    match value {
        RegValue::Dword(_) => REG_DWORD,
        RegValue::Qword(_) => REG_QWORD,
        RegValue::Sz(_) => REG_SZ,
        RegValue::ExpandSz(_) => REG_EXPAND_SZ,
        RegValue::MultiSz(_) => REG_MULTI_SZ,
        RegValue::Binary(_) => REG_BINARY,
    }
}

/// The bytes the registry stores for a value: little-endian integers, UTF-16LE strings with a
/// terminating NUL, and for `REG_MULTI_SZ` each string NUL-terminated plus a final NUL (an empty
/// list is a single NUL).
pub(crate) fn to_raw(value: &RegValue) -> Vec<u8> {
    fn push_utf16(out: &mut Vec<u8>, s: &str) {
        for unit in s.encode_utf16().chain([0]) {
            out.extend_from_slice(&unit.to_le_bytes());
        }
    }
    match value {
        RegValue::Dword(v) => v.to_le_bytes().to_vec(),
        RegValue::Qword(v) => v.to_le_bytes().to_vec(),
        RegValue::Sz(s) | RegValue::ExpandSz(s) => {
            let mut out = Vec::with_capacity(s.len() * 2 + 2);
            push_utf16(&mut out, s);
            out
        }
        RegValue::MultiSz(list) => {
            let mut out = Vec::new();
            for s in list {
                push_utf16(&mut out, s);
            }
            out.extend_from_slice(&[0, 0]);
            out
        }
        RegValue::Binary(bytes) => bytes.clone(),
    }
}

/// Decodes raw data. Strings end at their first NUL (what a C reader of the value sees);
/// a `REG_MULTI_SZ` ends at its first empty string, and a missing final terminator is tolerated.
pub(crate) fn from_raw(code: u32, data: &[u8]) -> Result<RegValue, RawError> {
    match code {
        REG_DWORD => {
            let bytes: [u8; 4] = data.try_into().map_err(|_| RawError::Length {
                ty: "REG_DWORD",
                expected: 4,
                found: data.len(),
            })?;
            Ok(RegValue::Dword(u32::from_le_bytes(bytes)))
        }
        REG_QWORD => {
            let bytes: [u8; 8] = data.try_into().map_err(|_| RawError::Length {
                ty: "REG_QWORD",
                expected: 8,
                found: data.len(),
            })?;
            Ok(RegValue::Qword(u64::from_le_bytes(bytes)))
        }
        REG_SZ => Ok(RegValue::Sz(decode_sz(data, "REG_SZ")?)),
        REG_EXPAND_SZ => Ok(RegValue::ExpandSz(decode_sz(data, "REG_EXPAND_SZ")?)),
        REG_MULTI_SZ => {
            let ty = "REG_MULTI_SZ";
            let units = utf16_units(data, ty)?;
            let mut list = Vec::new();
            for part in units.split(|&u| u == 0) {
                if part.is_empty() {
                    break;
                }
                list.push(String::from_utf16(part).map_err(|_| RawError::InvalidUtf16 { ty })?);
            }
            Ok(RegValue::MultiSz(list))
        }
        REG_BINARY => Ok(RegValue::Binary(data.to_vec())),
        other => Err(RawError::UnsupportedType(other)),
    }
}

fn decode_sz(data: &[u8], ty: &'static str) -> Result<String, RawError> {
    let units = utf16_units(data, ty)?;
    let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
    String::from_utf16(&units[..end]).map_err(|_| RawError::InvalidUtf16 { ty })
}

fn utf16_units(data: &[u8], ty: &'static str) -> Result<Vec<u16>, RawError> {
    if !data.len().is_multiple_of(2) {
        return Err(RawError::OddLength {
            ty,
            found: data.len(),
        });
    }
    Ok(data
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect())
}

/// Why a value cannot be stored faithfully, if it cannot: strings holding NUL would be cut
/// short by every reader, and an empty `REG_MULTI_SZ` element would end the list early.
pub(crate) fn value_problem(value: &RegValue) -> Option<&'static str> {
    match value {
        RegValue::Sz(s) | RegValue::ExpandSz(s) if s.contains('\0') => Some("string contains NUL"),
        RegValue::MultiSz(list) if list.iter().any(|s| s.contains('\0')) => {
            Some("REG_MULTI_SZ element contains NUL")
        }
        RegValue::MultiSz(list) if list.iter().any(String::is_empty) => {
            Some("REG_MULTI_SZ element is empty (it would end the list)")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let values = [
            RegValue::Dword(0x1f),
            RegValue::Qword(u64::MAX - 1),
            RegValue::Sz(String::new()),
            RegValue::Sz("héllo 😀".into()),
            RegValue::ExpandSz("%SystemRoot%\\x".into()),
            RegValue::MultiSz(vec![]),
            RegValue::MultiSz(vec!["a".into(), "bc".into()]),
            RegValue::Binary(vec![]),
            RegValue::Binary(vec![0, 1, 255]),
        ];
        for value in values {
            assert_eq!(
                from_raw(type_code(&value), &to_raw(&value)),
                Ok(value.clone())
            );
        }
    }

    #[test]
    fn encodings() {
        assert_eq!(to_raw(&RegValue::Sz("A".into())), [0x41, 0, 0, 0]);
        assert_eq!(to_raw(&RegValue::MultiSz(vec![])), [0, 0]);
        assert_eq!(
            to_raw(&RegValue::MultiSz(vec!["A".into()])),
            [0x41, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn lenient_and_strict_decoding() {
        // Unterminated strings and lists are read as they are.
        assert_eq!(from_raw(REG_SZ, &[0x41, 0]), Ok(RegValue::Sz("A".into())));
        assert_eq!(
            from_raw(REG_MULTI_SZ, &[0x41, 0]),
            Ok(RegValue::MultiSz(vec!["A".into()]))
        );
        assert_eq!(from_raw(REG_MULTI_SZ, &[]), Ok(RegValue::MultiSz(vec![])));
        // A string ends at its first NUL.
        assert_eq!(
            from_raw(REG_SZ, &[0x41, 0, 0, 0, 0x42, 0]),
            Ok(RegValue::Sz("A".into()))
        );
        assert!(matches!(
            from_raw(REG_SZ, &[0x41]),
            Err(RawError::OddLength { .. })
        ));
        assert!(matches!(
            from_raw(REG_SZ, &[0x00, 0xd8]),
            Err(RawError::InvalidUtf16 { .. })
        ));
        assert!(matches!(
            from_raw(REG_DWORD, &[1, 2, 3]),
            Err(RawError::Length { .. })
        ));
        assert!(matches!(
            from_raw(REG_QWORD, &[1; 4]),
            Err(RawError::Length { .. })
        ));
        assert_eq!(from_raw(0, &[]), Err(RawError::UnsupportedType(0)));
    }

    #[test]
    fn problems() {
        assert!(value_problem(&RegValue::Sz("a\0b".into())).is_some());
        assert!(value_problem(&RegValue::MultiSz(vec!["".into()])).is_some());
        assert!(value_problem(&RegValue::MultiSz(vec!["a\0".into()])).is_some());
        assert!(value_problem(&RegValue::Sz(String::new())).is_none());
        assert!(value_problem(&RegValue::MultiSz(vec![])).is_none());
    }
}
