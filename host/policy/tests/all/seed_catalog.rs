//! The embedded catalog against the shared seed of Graph setting definitions.

use rampart_policy::catalog::Catalog;

use crate::support::shared_data;

fn seed() -> Catalog {
    let path = shared_data().join("settings-catalog-definitions-windows-defender.json");
    Catalog::load_graph_definitions_file(&path).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn embedded_catalog_agrees_with_shared_seed() {
    let seed = seed();
    let embedded = Catalog::embedded();
    let mut compared = 0;
    for ours in embedded.iter() {
        let Some(theirs) = seed.get(&ours.id) else {
            continue;
        };
        compared += 1;
        assert_eq!(ours.kind, theirs.kind, "{}: kind", ours.id);
        assert_eq!(ours.options, theirs.options, "{}: options", ours.id);
        assert_eq!(ours.range, theirs.range, "{}: range", ours.id);
        assert_eq!(
            ours.max_length, theirs.max_length,
            "{}: max length",
            ours.id
        );
        assert_eq!(ours.secret, theirs.secret, "{}: secret", ours.id);
        assert_eq!(ours.csp_uri, theirs.csp_uri, "{}: CSP URI", ours.id);
        assert_eq!(
            ours.technologies, theirs.technologies,
            "{}: technologies",
            ours.id
        );
    }
    assert!(compared > 0, "no definition in common with the seed");
}

#[test]
fn embedded_catalog_covers_the_whole_seed() {
    let embedded = Catalog::embedded();
    let seed = seed();
    let missing: Vec<&str> = seed
        .iter()
        .filter(|definition| embedded.get(&definition.id).is_none())
        .map(|definition| definition.id.as_str())
        .collect();
    assert!(missing.is_empty(), "the embedded catalog lacks {missing:?}");
}
