//! A plugin's answer checked against what it was given, the same way wherever it ran.
//!
//! Never trust the plugin: every setting it was given gets exactly one outcome (a missing
//! result becomes an error), a result for a setting it was not given is rejected, a duplicate
//! keeps the first answer, an over-long message is cut, and a value the plugin wrote but could
//! not confirm ([`UNCONFIRMED`]) is reported `unknown`, never `compliant`.

use std::collections::HashMap;

use rampart_policy::settings::GroupPosition;
use rampart_policy::status::SettingStatus;

/// Longest message kept from a plugin result.
const MAX_RESULT_MESSAGE: usize = 2 << 10;

/// The result code a plugin puts on a `compliant`/`remediated` result whose value is in place
/// but whose consumer (the firewall, Windows Security, ...) was not asked. Such a setting is
/// reported `unknown` with the plugin's message ("written; Windows Firewall not queried"), so a
/// `compliant` or `remediated` status always means the consumer confirmed the value. The SDK's
/// `Setting::unconfirmed` sets it.
pub const UNCONFIRMED: i32 = 0x524D_0001;

/// The checked outcome of one setting after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingOutcome {
    /// The setting's definition id.
    pub id: String,
    /// Its group position, if any.
    pub group: Option<GroupPosition>,
    /// Its status.
    pub status: SettingStatus,
    /// Explanation.
    pub message: Option<String>,
    /// Machine-readable code from the plugin.
    pub code: Option<i32>,
    /// The plugin said this run wrote the setting's value (`remediated`, confirmed or not): an
    /// all-or-nothing rollback makes such a setting an error.
    pub written: bool,
}

/// The status a plugin reported, in the contract's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedStatus {
    /// Already as asked.
    Compliant,
    /// Changed to what was asked.
    Remediated,
    /// Could not be enforced.
    Error,
    /// Does not apply to this device.
    NotApplicable,
}

/// One result as a plugin returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginResult {
    /// The setting's definition id.
    pub id: String,
    /// Its group position, if any.
    pub group: Option<GroupPosition>,
    /// The reported status.
    pub status: ReportedStatus,
    /// The plugin's explanation.
    pub message: Option<String>,
    /// The plugin's machine-readable code.
    pub code: Option<i32>,
}

type ResultKey<'a> = (&'a str, Option<(&'a str, u32)>);

fn key<'a>(id: &'a str, group: Option<&'a GroupPosition>) -> ResultKey<'a> {
    (id, group.map(|g| (g.definition_id.as_str(), g.index)))
}

/// Matches the plugin's results to the settings it was given. Never trust the plugin: a
/// missing result becomes an error, a result for a setting it was not given is rejected, and a
/// duplicate keeps the first answer.
///
/// `settings` are the settings the plugin was given, each as its id and group position; the
/// outcomes come back in their order, one per setting, with the problems found (at most 20).
pub fn check_results(
    settings: &[(&str, Option<&GroupPosition>)],
    results: Vec<PluginResult>,
) -> (Vec<SettingOutcome>, Vec<String>) {
    // A key's slot is its first setting; a repeated setting shares it (`first`, by position).
    let mut slots: foldhash::HashMap<ResultKey, usize> =
        HashMap::with_capacity_and_hasher(settings.len(), Default::default());
    let first: Vec<usize> = settings
        .iter()
        .enumerate()
        .map(|(i, &(id, group))| *slots.entry(key(id, group)).or_insert(i))
        .collect();
    let mut answers: Vec<Option<SettingOutcome>> = vec![None; settings.len()];
    let mut problems = Vec::new();
    for (position, r) in results.into_iter().enumerate() {
        let group = r.group;
        let result_key = key(&r.id, group.as_ref());
        // Plugins usually answer in the order of the settings: a result at the position of its
        // setting needs no lookup.
        let slot = match settings.get(position) {
            Some(&(id, g)) if key(id, g) == result_key => Some(first[position]),
            _ => slots.get(&result_key).copied(),
        };
        let Some(slot) = slot else {
            if problems.len() < 20 {
                problems.push(format!(
                    "result for a setting it was not given: '{}'",
                    short(&r.id)
                ));
            }
            continue;
        };
        if answers[slot].is_some() {
            if problems.len() < 20 {
                problems.push(format!("duplicate result for '{}'", short(&r.id)));
            }
            continue;
        }
        let status = match r.status {
            // In place, but its consumer was not asked: not confirmed, so not compliant.
            ReportedStatus::Compliant | ReportedStatus::Remediated
                if r.code == Some(UNCONFIRMED) =>
            {
                SettingStatus::Unknown
            }
            ReportedStatus::Compliant => SettingStatus::Compliant,
            ReportedStatus::Remediated => SettingStatus::Remediated,
            ReportedStatus::Error => SettingStatus::Error,
            ReportedStatus::NotApplicable => SettingStatus::NotApplicable,
        };
        let message = r
            .message
            .map(|m| crate::gate::truncate(m, MAX_RESULT_MESSAGE))
            .or_else(|| match status {
                SettingStatus::Error => {
                    Some("the plugin reported an error without a message".into())
                }
                SettingStatus::NotApplicable => {
                    Some("the plugin reported not applicable without a reason".into())
                }
                SettingStatus::Unknown => {
                    Some("in place; the plugin did not say which consumer was not queried".into())
                }
                _ => None,
            });
        answers[slot] = Some(SettingOutcome {
            id: r.id,
            group,
            status,
            message,
            code: r.code,
            written: r.status == ReportedStatus::Remediated,
        });
    }
    let outcomes = answers
        .into_iter()
        .zip(settings)
        .map(|(answer, &(id, group))| {
            answer.unwrap_or_else(|| SettingOutcome {
                id: id.to_owned(),
                group: group.cloned(),
                status: SettingStatus::Error,
                message: Some("the plugin returned no result for this setting".into()),
                code: None,
                written: false,
            })
        })
        .collect();
    (outcomes, problems)
}

fn short(s: &str) -> String {
    crate::gate::truncate(s.to_string(), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(id: &str) -> (&str, Option<&GroupPosition>) {
        (id, None)
    }

    fn result(id: &str, status: ReportedStatus) -> PluginResult {
        PluginResult {
            id: id.into(),
            group: None,
            status,
            message: None,
            code: None,
        }
    }

    fn statuses(outcomes: &[SettingOutcome]) -> Vec<(&str, SettingStatus)> {
        outcomes.iter().map(|o| (o.id.as_str(), o.status)).collect()
    }

    #[test]
    fn results_in_any_order_reach_their_settings() {
        let settings = [setting("a"), setting("b"), setting("c")];
        let (outcomes, problems) = check_results(
            &settings,
            vec![
                result("c", ReportedStatus::Remediated),
                result("b", ReportedStatus::Compliant),
                result("x", ReportedStatus::Compliant),
                result("a", ReportedStatus::Remediated),
            ],
        );
        assert_eq!(
            statuses(&outcomes),
            [
                ("a", SettingStatus::Remediated),
                ("b", SettingStatus::Compliant),
                ("c", SettingStatus::Remediated),
            ]
        );
        assert_eq!(problems, ["result for a setting it was not given: 'x'"]);
    }

    #[test]
    fn an_unconfirmed_value_is_unknown_never_compliant() {
        let settings = [setting("a"), setting("b"), setting("c"), setting("d")];
        let coded = |id: &str, status, code| PluginResult {
            code: Some(code),
            message: Some("written; Windows Firewall not queried".into()),
            ..result(id, status)
        };
        let (outcomes, problems) = check_results(
            &settings,
            vec![
                coded("a", ReportedStatus::Remediated, UNCONFIRMED),
                coded("b", ReportedStatus::Compliant, UNCONFIRMED),
                // The code means nothing on an error, and another code changes nothing.
                coded("c", ReportedStatus::Error, UNCONFIRMED),
                coded("d", ReportedStatus::Compliant, 5),
            ],
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            statuses(&outcomes),
            [
                ("a", SettingStatus::Unknown),
                ("b", SettingStatus::Unknown),
                ("c", SettingStatus::Error),
                ("d", SettingStatus::Compliant),
            ]
        );
        assert_eq!(
            outcomes[0].message.as_deref(),
            Some("written; Windows Firewall not queried")
        );
    }

    #[test]
    fn a_repeated_setting_takes_the_first_answer_even_in_order() {
        // The second `a` is at the position of the second setting `a`, but both settings share
        // the first one's slot: the second answer is a duplicate, and the second setting has no
        // answer of its own.
        let settings = [setting("a"), setting("a")];
        let (outcomes, problems) = check_results(
            &settings,
            vec![
                result("a", ReportedStatus::Compliant),
                result("a", ReportedStatus::Remediated),
            ],
        );
        assert_eq!(
            statuses(&outcomes),
            [("a", SettingStatus::Compliant), ("a", SettingStatus::Error)]
        );
        assert_eq!(problems, ["duplicate result for 'a'"]);
    }
}
