//! The route stage: which plugin enforces each setting of a pass.
//!
//! Each setting to enforce is routed to the one plugin whose manifest claims its id on this
//! platform (see [`PluginSet`] for whose claim stands); identical settings from several
//! policies are enforced once and reported in each. A setting no plugin claims, or that two
//! plugins claim with the same standing, is refused with an error, never silently dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rampart_policy::device::Platform;
use rampart_policy::resolve::{Disposition, ResolvedPolicy};
use rampart_policy::settings::{GroupPosition, ResolvedSetting};

use crate::sandbox::plugin::Plugin;
use crate::supply::trust::TrustVerdict;

/// The loaded plugins of a host, by name, and who may enforce which setting ids.
///
/// A manifest alone does not decide who enforces a setting. When several plugins claim the
/// same id, the claim that stands is, in order:
///
/// 1. the operator's: a plugin whose operator assignment ([`PluginSet::assign`], the
///    `settings` of its `[plugin.NAME]` grants entry) matches the id;
/// 2. the established owner's: a first-party plugin ([`PluginSet::insert_first_party`]), or a
///    same-named override that [`PluginSet::admit`] accepted because its signature is trusted
///    for that name;
/// 3. any other plugin's.
///
/// The claims below the one that stands are overruled (reported, never run); two claims of the
/// same rank leave the setting unenforced with an error. A plugin with an operator assignment
/// enforces only the ids its assignment matches.
#[derive(Debug, Clone, Default)]
pub struct PluginSet {
    plugins: BTreeMap<String, Arc<Plugin>>,
    /// Names whose claims stand before a third party's.
    established: BTreeSet<String>,
    /// Operator assignments: plugin name to setting-id patterns.
    assigned: BTreeMap<String, Vec<String>>,
}

/// Where a setting goes.
#[derive(Debug, Clone)]
pub enum Route {
    /// One plugin's claim stands (see [`PluginSet`]).
    Plugin(Arc<Plugin>),
    /// No plugin claims it on this platform.
    Unclaimed,
    /// Several plugins claim it with the same standing (names sorted).
    Ambiguous(Vec<String>),
}

/// Why [`PluginSet::admit`] refused a plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// The plugin has the name of a first-party plugin but no signature trusted for it.
    #[error(
        "plugin '{name}' would replace the first-party plugin of that name, but it is not signed by a key the trust configuration trusts for '{name}' ({verdict})"
    )]
    UntrustedOverride {
        /// The plugin name.
        name: String,
        /// What the signature check found.
        verdict: String,
    },
}

/// The rank of a claim (see [`PluginSet`]); higher stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Standing {
    ThirdParty,
    Established,
    Assigned,
}

impl PluginSet {
    /// An empty set.
    pub fn new() -> Self {
        PluginSet::default()
    }

    /// Adds a plugin, replacing (and returning) one with the same name. The plugin's claims
    /// have the standing of the name: established when the name is a first-party plugin's.
    /// Agents loading plugins from a directory use [`PluginSet::admit`], which checks that a
    /// plugin replacing a first-party one is trusted for its name.
    pub fn insert(&mut self, plugin: Arc<Plugin>) -> Option<Arc<Plugin>> {
        self.plugins.insert(plugin.name().to_string(), plugin)
    }

    /// Adds a first-party plugin: its claims stand before any third party's.
    pub fn insert_first_party(&mut self, plugin: Arc<Plugin>) -> Option<Arc<Plugin>> {
        self.established.insert(plugin.name().to_string());
        self.insert(plugin)
    }

    /// Whether `name` is a first-party plugin's name.
    pub fn is_first_party(&self, name: &str) -> bool {
        self.established.contains(name)
    }

    /// Checks that `plugin` may join the set: a plugin with a first-party plugin's name must be
    /// signed by a key the trust configuration trusts for that name (its
    /// [`Plugin::trust`] verdict is [`TrustVerdict::Verified`]).
    ///
    /// # Errors
    ///
    /// [`ClaimError::UntrustedOverride`] otherwise.
    pub fn check_admission(&self, plugin: &Plugin) -> Result<(), ClaimError> {
        if self.is_first_party(plugin.name())
            && !matches!(plugin.trust(), TrustVerdict::Verified { .. })
        {
            return Err(ClaimError::UntrustedOverride {
                name: plugin.name().to_string(),
                verdict: plugin.trust().to_string(),
            });
        }
        Ok(())
    }

    /// [`PluginSet::insert`] after [`PluginSet::check_admission`].
    ///
    /// # Errors
    ///
    /// As [`PluginSet::check_admission`]; the set is unchanged then.
    pub fn admit(&mut self, plugin: Arc<Plugin>) -> Result<Option<Arc<Plugin>>, ClaimError> {
        self.check_admission(&plugin)?;
        Ok(self.insert(plugin))
    }

    /// The operator assigns the setting ids matching `patterns` to plugin `name`: its claims on
    /// them stand before any other's, and it enforces no other id.
    pub fn assign(&mut self, name: &str, patterns: Vec<String>) {
        self.assigned.insert(name.to_string(), patterns);
    }

    /// The operator's assignments of `operator` ([`crate::OperatorGrants::settings`]).
    pub fn with_assignments(mut self, operator: &crate::OperatorGrants) -> Self {
        for (name, patterns) in &operator.settings {
            self.assign(name, patterns.clone());
        }
        self
    }

    /// Removes a plugin by name.
    pub fn remove(&mut self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.remove(name)
    }

    /// A plugin by name.
    pub fn get(&self, name: &str) -> Option<&Arc<Plugin>> {
        self.plugins.get(name)
    }

    /// The plugins, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Plugin>> {
        self.plugins.values()
    }

    /// Number of plugins.
    pub fn len(&self) -> usize {
        self.plugins.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }

    /// Which plugin enforces `setting_id` on `platform`.
    pub fn route(&self, platform: Platform, setting_id: &str) -> Route {
        self.decide(platform, setting_id).0
    }

    /// The standing of `plugin`'s claim on `setting_id`; `None` when it does not claim it (or
    /// the operator's assignment excludes it).
    fn standing(&self, plugin: &Plugin, platform: Platform, setting_id: &str) -> Option<Standing> {
        if !plugin.manifest().platforms.contains(&platform) || !plugin.manifest().claims(setting_id)
        {
            return None;
        }
        match self.assigned.get(plugin.name()) {
            Some(patterns) => patterns
                .iter()
                .any(|p| rampart_gate::pattern::glob_match(p, setting_id))
                .then_some(Standing::Assigned),
            None if self.established.contains(plugin.name()) => Some(Standing::Established),
            None => Some(Standing::ThirdParty),
        }
    }

    /// The route of `setting_id`, and the plugins whose claims on it were overruled.
    fn decide(&self, platform: Platform, setting_id: &str) -> (Route, Vec<String>) {
        let mut claims: Vec<(Standing, &Arc<Plugin>)> = self
            .plugins
            .values()
            .filter_map(|p| self.standing(p, platform, setting_id).map(|s| (s, p)))
            .collect();
        let Some(top) = claims.iter().map(|(s, _)| *s).max() else {
            return (Route::Unclaimed, Vec::new());
        };
        let overruled = claims
            .iter()
            .filter(|(s, _)| *s < top)
            .map(|(_, p)| p.name().to_string())
            .collect();
        claims.retain(|(s, _)| *s == top);
        let route = match claims.as_slice() {
            [(_, one)] => Route::Plugin(Arc::clone(one)),
            many => Route::Ambiguous(many.iter().map(|(_, p)| p.name().to_string()).collect()),
        };
        (route, overruled)
    }

    /// Every plugin claiming `setting_id` on `platform`, whatever its standing.
    fn claimants(&self, platform: Platform, setting_id: &str) -> Vec<&Arc<Plugin>> {
        self.plugins
            .values()
            .filter(|p| self.standing(p, platform, setting_id).is_some())
            .collect()
    }
}

/// A setting's identity in a pass: its id and group position.
pub(crate) type Key = (String, Option<(String, u32)>);

/// The [`Key`] of a setting.
pub(crate) fn key_of(id: &str, group: &Option<GroupPosition>) -> Key {
    (
        id.to_string(),
        group.as_ref().map(|g| (g.definition_id.clone(), g.index)),
    )
}

/// The settings a pass enforces: each distinct setting once, in first-seen order.
#[derive(Debug)]
pub(crate) struct Unique<'a> {
    /// The settings.
    pub(crate) settings: Vec<&'a ResolvedSetting>,
    /// Each setting's position in `settings`.
    pub(crate) index: HashMap<Key, usize>,
}

impl<'a> Unique<'a> {
    /// The settings of `policies` to enforce.
    pub(crate) fn of(policies: &'a [ResolvedPolicy]) -> Unique<'a> {
        let mut settings: Vec<&ResolvedSetting> = Vec::new();
        let mut index: HashMap<Key, usize> = HashMap::new();
        for policy in policies {
            for entry in &policy.entries {
                if let Disposition::Enforce(setting) = &entry.disposition {
                    index
                        .entry(key_of(&setting.id, &setting.group))
                        .or_insert_with(|| {
                            settings.push(setting);
                            settings.len() - 1
                        });
                }
            }
        }
        Unique { settings, index }
    }
}

/// Where the settings of a pass go (positions are into [`Unique::settings`]).
#[derive(Debug, Default)]
pub(crate) struct Routing {
    /// Each plugin's batch, by plugin name.
    pub(crate) batches: BTreeMap<String, (Arc<Plugin>, Vec<usize>)>,
    /// Settings no plugin runs, with why.
    pub(crate) refused: Vec<(usize, String)>,
    /// Claims overruled by a claim that stands: (overruled plugin, owner) → setting ids.
    pub(crate) overruled_claims: BTreeMap<(String, String), BTreeSet<String>>,
    /// Settings claimed with the same standing by several plugins, by claimant: not enforced,
    /// but still in the policy, so no claimant removes what it set for them.
    pub(crate) disputed: BTreeMap<String, Vec<usize>>,
}

impl Routing {
    /// No setting runs: each of the `count` settings is refused with `message`.
    pub(crate) fn none_run(count: usize, message: &str) -> Routing {
        Routing {
            refused: (0..count).map(|i| (i, message.to_owned())).collect(),
            ..Routing::default()
        }
    }
}

impl PluginSet {
    /// Routes each of `settings` on `platform`.
    pub(crate) fn route_all(&self, platform: Platform, settings: &[&ResolvedSetting]) -> Routing {
        let mut routing = Routing::default();
        for (i, setting) in settings.iter().enumerate() {
            let (route, overruled) = self.decide(platform, &setting.id);
            if let Route::Plugin(owner) = &route {
                for intruder in overruled {
                    routing
                        .overruled_claims
                        .entry((intruder, owner.name().to_string()))
                        .or_default()
                        .insert(setting.id.clone());
                }
            }
            match route {
                Route::Plugin(p) => {
                    routing
                        .batches
                        .entry(p.name().to_string())
                        .or_insert_with(|| (p.clone(), Vec::new()))
                        .1
                        .push(i);
                }
                Route::Unclaimed => routing.refused.push((
                    i,
                    format!(
                        "no plugin enforces this setting on {}",
                        platform_name(platform)
                    ),
                )),
                Route::Ambiguous(names) => {
                    for claimant in self.claimants(platform, &setting.id) {
                        routing
                            .disputed
                            .entry(claimant.name().to_string())
                            .or_default()
                            .push(i);
                    }
                    routing.refused.push((
                        i,
                        format!(
                            "claimed by several plugins ({}); none was run",
                            names.join(", ")
                        ),
                    ));
                }
            }
        }
        routing
    }
}

/// The platform's name in messages.
pub(crate) fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::WindowsClient => "windows-client",
        Platform::WindowsServer => "windows-server",
        Platform::Linux => "linux",
        Platform::Macos => "macos",
    }
}
