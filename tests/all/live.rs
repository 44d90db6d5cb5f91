//! Live plugins: hot swap through a watched directory, keep-last-good, contract versions, the
//! AOT cache, and swaps under load.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rampart_policy::settings::SettingValue;
use rampart_policy::status::SettingStatus;
use rampart_runtime::live::{DEFAULT_DEBOUNCE, PluginDirectory};
use rampart_runtime::{
    AotCache, CacheOutcome, Capabilities, LoadFailure, Plugin, Route, RunLimits,
};
use rampart_test_artifacts::{CAPS_FORBIDDEN_FILESYSTEM, CAPS_OVER_PRIVILEGED, SWAP_V1, SWAP_V2};
use rampart_tests::{engine, permissive_ceiling, setting, windows_client};

fn bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("test program built")
}

/// Writes `contents` the way deployers should: temp file in the same directory, then rename.
fn deploy(dir: &Path, name: &str, contents: &[u8]) {
    let tmp = dir.join(format!("{name}.tmp"));
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
}

/// Runs the serving `swap-test` version once; returns (version that served, message it gave).
fn serve(directory: &PluginDirectory) -> Option<(String, String)> {
    let set = directory.live().snapshot();
    let Route::Plugin(plugin) = set.route(rampart_policy::device::Platform::Linux, "test_x") else {
        return None;
    };
    let out = plugin
        .run(
            &windows_client(),
            &[setting("test_x", SettingValue::Integer(1))],
            &Capabilities::none(),
            &RunLimits::default(),
        )
        .expect("a serving version runs");
    assert_eq!(out.outcomes[0].status, SettingStatus::Compliant);
    Some((
        plugin.version().to_string(),
        out.outcomes[0].message.clone().unwrap_or_default(),
    ))
}

fn directory(dir: &Path, embedded: Vec<Arc<Plugin>>) -> PluginDirectory {
    PluginDirectory::new(dir, engine(), permissive_ceiling(), None, embedded)
}

#[test]
fn a_bad_version_is_rejected_and_the_last_good_one_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let d = directory(tmp.path(), vec![]);
    let file = tmp.path().join("swap.wasm");

    deploy(tmp.path(), "swap.wasm", &bytes(SWAP_V1));
    assert_eq!(d.update(&file).loaded, ["swap-test@1.0.0"]);
    assert_eq!(serve(&d).unwrap(), ("1.0.0".into(), "v1".into()));

    // Corrupt, truncated, incompatible and over-privileged versions are all refused.
    let good = bytes(SWAP_V2);
    let mut incompatible = good.clone();
    let at = find(&incompatible, b"rampart:contract").expect("contract section")
        + b"rampart:contract".len();
    let version_at = at
        + find(
            &incompatible[at..],
            rampart_runtime::CONTRACT_VERSION.as_bytes(),
        )
        .unwrap();
    incompatible[version_at..version_at + 5].copy_from_slice(b"0.2.0");
    let cases: [(&str, Vec<u8>); 4] = [
        ("corrupt", b"\0asm garbage".to_vec()),
        ("truncated", good[..good.len() / 3].to_vec()),
        ("incompatible", incompatible),
        ("over-privileged", bytes(CAPS_OVER_PRIVILEGED)),
    ];
    let strict = PluginDirectory::new(
        tmp.path(),
        engine(),
        rampart_runtime::GrantPolicy::Strict(rampart_runtime::Grants::none()),
        None,
        vec![],
    );
    for (what, contents) in &cases {
        deploy(tmp.path(), "swap.wasm", contents);
        let target = if *what == "over-privileged" {
            &strict
        } else {
            &d
        };
        let summary = target.update(&file);
        assert_eq!(summary.rejected.len(), 1, "{what}: {summary:?}");
        if *what != "over-privileged" {
            assert_eq!(
                serve(&d).unwrap().0,
                "1.0.0",
                "{what}: the last good version serves"
            );
            let status = d.live().status();
            assert_eq!(status.rejected.len(), 1, "{what}");
            assert_eq!(status.rejected[0].kept.as_deref(), Some("swap-test@1.0.0"));
            if *what == "incompatible" {
                let reason = &status.rejected[0].reason;
                assert!(
                    reason.contains("rampart:plugin@0.2.0")
                        && reason.contains(&format!(
                            "rampart:plugin@{}",
                            rampart_runtime::CONTRACT_VERSION
                        )),
                    "{reason}"
                );
            }
        } else {
            let reason = &strict.live().status().rejected[0].reason;
            assert!(
                reason.contains("beyond what this host allows")
                    && reason.contains("HKEY_LOCAL_MACHINE"),
                "{reason}"
            );
        }
    }

    // A good version replaces it and clears the rejection.
    deploy(tmp.path(), "swap.wasm", &good);
    assert_eq!(d.update(&file).loaded, ["swap-test@2.0.0"]);
    assert_eq!(serve(&d).unwrap(), ("2.0.0".into(), "v2".into()));
    assert!(d.live().status().rejected.is_empty());

    // Unchanged content is skipped; a deleted file unloads the plugin.
    assert_eq!(d.update(&file), Default::default());
    std::fs::remove_file(&file).unwrap();
    assert_eq!(d.update(&file).removed, ["swap-test"]);
    assert!(serve(&d).is_none());
}

#[test]
fn a_directory_plugin_overrides_an_embedded_one_until_it_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let embedded = Plugin::load(
        &engine(),
        "embedded:swap-test",
        &bytes(SWAP_V1),
        &permissive_ceiling(),
    )
    .unwrap();
    let key = rampart_runtime::signing::generate_key().unwrap();
    let trust = rampart_runtime::trust::TrustPolicy::new(
        rampart_runtime::trust::TrustMode::Audit,
        vec![rampart_runtime::trust::TrustedKey {
            name: "release".into(),
            id: rampart_runtime::signing::key_id(&key.verifying_key()),
            key: key.verifying_key(),
            plugins: vec!["swap-test".into()],
        }],
    );
    let d = directory(tmp.path(), vec![Arc::new(embedded)]).with_trust(trust);
    assert_eq!(serve(&d).unwrap().0, "1.0.0");
    // Unsigned, the same-named file is refused (even in audit mode) and the embedded one serves.
    deploy(tmp.path(), "override.wasm", &bytes(SWAP_V2));
    let refused = d.scan();
    assert_eq!(refused.rejected.len(), 1, "{refused:?}");
    assert!(
        d.live().status().rejected[0]
            .reason
            .contains("would replace the first-party plugin"),
        "{:?}",
        d.live().status()
    );
    assert_eq!(serve(&d).unwrap().0, "1.0.0");
    // Signed by a key trusted for its name, it overrides.
    let signed = rampart_runtime::signing::sign(&bytes(SWAP_V2), &key).unwrap();
    deploy(tmp.path(), "override.wasm", &signed);
    d.scan();
    assert_eq!(serve(&d).unwrap().0, "2.0.0");
    let file = tmp.path().join("override.wasm");
    std::fs::remove_file(&file).unwrap();
    d.update(&file);
    assert_eq!(
        serve(&d).unwrap().0,
        "1.0.0",
        "the embedded plugin serves again"
    );
}

/// The `.cwasm` entries of an AOT cache directory.
fn cache_entries(cache: &AotCache) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

/// Loads `wasm` through `cache` with the permissive ceiling.
fn load_cached(cache: &AotCache, wasm: &[u8]) -> Result<Plugin, rampart_runtime::LoadError> {
    Plugin::load_with_cache(&engine(), "swap", wasm, &permissive_ceiling(), Some(cache))
}

/// Runs `swap-test` v1 once and checks it answered as v1 does.
fn assert_runs_as_v1(plugin: &Plugin) {
    let out = plugin
        .run(
            &windows_client(),
            &[setting("test_x", SettingValue::Integer(1))],
            &Capabilities::none(),
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(out.outcomes[0].status, SettingStatus::Compliant);
    assert_eq!(out.outcomes[0].message.as_deref(), Some("v1"));
}

/// Asserts the load recompiled an unusable entry; the plugin still runs.
fn assert_recompiled(plugin: &Plugin, what: &str) {
    assert!(
        matches!(plugin.cache_outcome(), Some(CacheOutcome::Recompiled(_))),
        "{what}: {:?}",
        plugin.cache_outcome()
    );
    assert_runs_as_v1(plugin);
}

#[test]
fn the_aot_cache_hits_and_recompiles_a_corrupt_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = AotCache::open(&tmp.path().join("cache"), &engine()).unwrap();
    let wasm = bytes(SWAP_V1);
    let load = || load_cached(&cache, &wasm).unwrap();
    assert_eq!(load().cache_outcome(), Some(&CacheOutcome::Miss));
    assert_eq!(load().cache_outcome(), Some(&CacheOutcome::Hit));
    let mut files: Vec<_> = std::fs::read_dir(cache.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let entries = cache_entries(&cache);
    assert_eq!(
        files.len(),
        2,
        "one content-addressed entry and the key, no temporary files: {files:?}"
    );
    // (Sorted by name, the key file can come first or last: entries are named by digest.)
    assert!(
        files.iter().any(|f| f == rampart_runtime::aot::KEY_FILE),
        "{files:?}"
    );
    assert!(files.iter().any(|f| f.ends_with(".cwasm")), "{files:?}");
    for corruption in [
        b"garbage".to_vec(),
        std::fs::read(&entries[0]).unwrap()[..4096].to_vec(),
    ] {
        std::fs::write(&entries[0], corruption).unwrap();
        assert_recompiled(&load(), "corrupt entry");
        assert_eq!(
            load().cache_outcome(),
            Some(&CacheOutcome::Hit),
            "the entry was replaced"
        );
    }
}

#[test]
fn flipped_bytes_in_an_aot_cache_entry_are_recompiled_never_run() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = AotCache::open(&tmp.path().join("cache"), &engine()).unwrap();
    let wasm = bytes(SWAP_V1);
    assert_eq!(
        load_cached(&cache, &wasm).unwrap().cache_outcome(),
        Some(&CacheOutcome::Miss)
    );
    let entry = cache_entries(&cache).remove(0);
    let good = std::fs::read(&entry).unwrap();
    // 64 bytes in the second half (compiled code), a corruption that would crash every later
    // load if the entry reached wasmtime unchecked; then a single bit near the start and at the
    // very end.
    let mut corruptions = Vec::new();
    let mut flipped = good.clone();
    let middle = good.len() * 3 / 4;
    for byte in &mut flipped[middle..middle + 64] {
        *byte ^= 0xff;
    }
    corruptions.push(flipped);
    for at in [16, good.len() - 1] {
        let mut flipped = good.clone();
        flipped[at] ^= 0x01;
        corruptions.push(flipped);
    }
    for (i, corruption) in corruptions.iter().enumerate() {
        std::fs::write(&entry, corruption).unwrap();
        assert_recompiled(&load_cached(&cache, &wasm).unwrap(), &format!("flip {i}"));
        assert_eq!(std::fs::read(&entry).unwrap(), good, "flip {i}: replaced");
        let hit = load_cached(&cache, &wasm).unwrap();
        assert_eq!(hit.cache_outcome(), Some(&CacheOutcome::Hit));
        assert_runs_as_v1(&hit);
    }
}

#[test]
fn aot_cache_entries_made_with_another_key_or_truncated_are_recompiled() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let cache = AotCache::open(&dir, &engine()).unwrap();
    let wasm = bytes(SWAP_V1);
    load_cached(&cache, &wasm).unwrap();
    let entry = cache_entries(&cache).remove(0);

    // Another key: the key file deleted, so the next agent generates a new one.
    std::fs::remove_file(dir.join(rampart_runtime::aot::KEY_FILE)).unwrap();
    let rekeyed = AotCache::open(&dir, &engine()).unwrap();
    assert_recompiled(&load_cached(&rekeyed, &wasm).unwrap(), "another key");
    assert_eq!(
        load_cached(&rekeyed, &wasm).unwrap().cache_outcome(),
        Some(&CacheOutcome::Hit)
    );
    // The agent still holding the old key now refuses the new entry in turn.
    assert_recompiled(&load_cached(&cache, &wasm).unwrap(), "old key");

    // An entry planted from another cache (another machine, another key) under the right name.
    let other = AotCache::open(&tmp.path().join("other"), &engine()).unwrap();
    load_cached(&other, &wasm).unwrap();
    std::fs::copy(cache_entries(&other).remove(0), &entry).unwrap();
    assert_recompiled(&load_cached(&cache, &wasm).unwrap(), "planted");

    // Truncated: a torn write, cut anywhere.
    let good = std::fs::read(&entry).unwrap();
    for cut in [0, 8, 39, 40, 41, good.len() / 2, good.len() - 1] {
        std::fs::write(&entry, &good[..cut]).unwrap();
        assert_recompiled(
            &load_cached(&cache, &wasm).unwrap(),
            &format!("cut at {cut}"),
        );
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            good,
            "cut at {cut}: replaced"
        );
    }
}

/// A custom section: id 0, then what `wasm_encoder` writes (size, name, data).
fn custom_section(name: &str, data: &[u8]) -> Vec<u8> {
    let mut section = vec![0];
    wasm_encoder::Encode::encode(
        &wasm_encoder::CustomSection {
            name: name.into(),
            data: data.into(),
        },
        &mut section,
    );
    section
}

/// A component embedding a core module that parses but does not validate (`i32.add` on an
/// empty stack): only compiling it finds the error.
fn component_with_invalid_code() -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, Component, Function, FunctionSection, Instruction, Module, ModuleSection,
        TypeSection,
    };
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut body = Function::new([]);
    body.instruction(&Instruction::I32Add);
    body.instruction(&Instruction::End);
    let mut code = CodeSection::new();
    code.function(&body);
    let mut module = Module::new();
    module.section(&types).section(&functions).section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    component.finish()
}

#[test]
fn a_refused_plugin_leaves_no_aot_cache_entry() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = AotCache::open(&tmp.path().join("cache"), &engine()).unwrap();
    let manifest = "[plugin]\nname = \"handmade\"\nversion = \"0.1.0\"\nplatforms = [\"windows-client\"]\nsettings = [\"test_*\"]\n";
    let with_sections = |mut wasm: Vec<u8>| {
        wasm.extend(custom_section("rampart:manifest", manifest.as_bytes()));
        wasm.extend(custom_section("rampart:contract", b"0.1.1"));
        wasm
    };
    let good = bytes(SWAP_V1);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", b"definitely not wasm".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        // Valid manifest sections around code that does not compile: a core module that is
        // not a component, and a component whose core module fails validation.
        ("core module", with_sections(b"\0asm\x01\0\0\0".to_vec())),
        ("invalid code", with_sections(component_with_invalid_code())),
        // Compiles, then fails checks that need the compiled component: a forbidden import,
        // and a component that exports nothing (no `apply` to link).
        ("forbidden import", bytes(CAPS_FORBIDDEN_FILESYSTEM)),
        (
            "nothing to link",
            with_sections(b"\0asm\x0d\0\x01\0".to_vec()),
        ),
    ];
    for (what, wasm) in &cases {
        let err = load_cached(&cache, wasm).expect_err(what);
        let stage_expected = match *what {
            "garbage" => matches!(err.reason, LoadFailure::Manifest(_)),
            "truncated" => matches!(
                err.reason,
                LoadFailure::Manifest(_) | LoadFailure::Compile(_)
            ),
            "core module" | "invalid code" => matches!(err.reason, LoadFailure::Compile(_)),
            "forbidden import" => matches!(err.reason, LoadFailure::ForbiddenImport { .. }),
            _ => matches!(err.reason, LoadFailure::Link(_)),
        };
        assert!(stage_expected, "{what}: {err:?}");
        assert_eq!(
            cache_entries(&cache),
            Vec::<std::path::PathBuf>::new(),
            "{what}: {err}"
        );
    }
    // Over-privileged under a strict policy: refused before compiling.
    let strict = rampart_runtime::GrantPolicy::Strict(rampart_runtime::Grants::none());
    let err = Plugin::load_with_cache(
        &engine(),
        "over.wasm",
        &bytes(CAPS_OVER_PRIVILEGED),
        &strict,
        Some(&cache),
    )
    .unwrap_err();
    assert!(
        matches!(err.reason, LoadFailure::OverPrivileged { .. }),
        "{err}"
    );
    assert_eq!(cache_entries(&cache), Vec::<std::path::PathBuf>::new());
    // The same cache still serves a good plugin.
    assert_runs_as_v1(&load_cached(&cache, &good).unwrap());
    assert_eq!(cache_entries(&cache).len(), 1);
}

#[test]
fn thousands_of_runs_while_versions_are_swapped_never_fail_or_mix_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    deploy(&dir, "swap.wasm", &bytes(SWAP_V1));
    let d = Arc::new(directory(&dir, vec![]));
    d.scan();
    let _watch = d.watch(DEFAULT_DEBOUNCE, |_| {}).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let d = d.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runs = 0u32;
            let mut seen = std::collections::BTreeSet::new();
            // After the stop signal the runner still serves until it has seen the final
            // version: on a loaded machine the signal can arrive before this thread's next run.
            while !stop.load(Ordering::Relaxed) || runs < 2_000 || !seen.contains("2.0.0") {
                let (version, message) = serve(&d).expect("a version is always serving");
                // Each run is attributed to exactly one version: the answer comes from the
                // version the run started with.
                assert_eq!(message, format!("v{}", &version[..1]), "run {runs}");
                seen.insert(version);
                runs += 1;
            }
            (runs, seen)
        })
    };

    let (v1, v2) = (bytes(SWAP_V1), bytes(SWAP_V2));
    // Atomic replacements, including rapid bursts well inside the debounce window.
    for round in 0..20 {
        let next = if round % 2 == 0 { &v2 } else { &v1 };
        deploy(&dir, "swap.wasm", next);
        if round % 5 == 4 {
            for burst in 0..5 {
                deploy(&dir, "swap.wasm", if burst % 2 == 0 { &v1 } else { &v2 });
            }
        }
        std::thread::sleep(Duration::from_millis(if round % 3 == 0 { 5 } else { 120 }));
    }
    // A slow, non-atomic copy over the live file: partial states must be refused.
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(dir.join("swap.wasm")).unwrap();
        for chunk in v2.chunks(v2.len() / 8 + 1) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
    }
    // The final version settles and serves.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if serve(&d).map(|(v, _)| v).as_deref() == Some("2.0.0")
            && d.live().status().rejected.is_empty()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the complete copy never loaded: {:?}",
            d.live().status()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let (runs, seen) = runner.join().expect("no run failed");
    assert!(runs >= 2_000, "{runs}");
    assert_eq!(seen.len(), 2, "both versions served: {seen:?}");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_plugin_built_against_an_older_compatible_contract_keeps_working() {
    let wasm = bytes(rampart_test_artifacts::CONTRACT_0_1_0_PLUGIN);
    let plugin = Plugin::load(&engine(), "old.wasm", &wasm, &permissive_ceiling())
        .expect("a 0.1.0 plugin loads on this host");
    assert_eq!(plugin.contract_version(), "0.1.0");
    assert_ne!(
        rampart_runtime::CONTRACT_VERSION,
        "0.1.0",
        "the host implements a newer contract"
    );
    let (registry, caps) = rampart_tests::backends(false);
    let out = plugin
        .run(
            &windows_client(),
            &[setting(
                "test_old",
                SettingValue::Text(r"HKLM\SOFTWARE\Policies\Rampart Test".into()),
            )],
            &caps,
            &RunLimits::default(),
        )
        .unwrap();
    assert_eq!(
        out.outcomes[0].status,
        SettingStatus::Remediated,
        "{:?}",
        out.outcomes[0]
    );
    let key =
        rampart_backends::registry::RegistryPath::parse(r"HKLM\SOFTWARE\Policies\Rampart Test")
            .unwrap();
    use rampart_backends::registry::RegistryBackend as _;
    assert_eq!(
        registry.get_value(&key, "Old").unwrap(),
        Some(rampart_backends::registry::RegValue::Dword(1))
    );

    // A plugin claiming a newer patch than the host implements is refused, naming both.
    let mut newer = wasm.clone();
    let at = find(&newer, b"rampart:contract").unwrap() + b"rampart:contract".len();
    let v = at + find(&newer[at..], b"0.1.0").unwrap();
    newer[v..v + 5].copy_from_slice(b"0.1.9");
    let err = Plugin::load(&engine(), "newer.wasm", &newer, &permissive_ceiling()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("rampart:plugin@0.1.9")
            && message.contains(&format!(
                "rampart:plugin@{}",
                rampart_runtime::CONTRACT_VERSION
            )),
        "{message}"
    );
}

/// Compilation over the compiler's budget, and a file over the size limit, are rejections like
/// any other: the last good version keeps serving, and the oversized file is never read.
#[test]
fn over_budget_compilation_and_oversized_files_are_rejected_and_the_last_good_version_serves() {
    use rampart_runtime::{CompileBudget, CompileError, Compiler, Engine, InProcess};

    /// Compiles in-process until armed, then answers "over the memory budget".
    #[derive(Debug)]
    struct Armed(Arc<AtomicBool>);
    impl Compiler for Armed {
        fn compile(
            &self,
            engine: &Engine,
            wasm: &[u8],
        ) -> Result<rampart_runtime::compile::Component, CompileError> {
            if self.0.load(Ordering::SeqCst) {
                return Err(CompileError::Budget(CompileBudget::Memory(64 << 20)));
            }
            InProcess.compile(engine, wasm)
        }
    }

    let tmp = tempfile::tempdir().unwrap();
    let armed = Arc::new(AtomicBool::new(false));
    let d = PluginDirectory::new(
        tmp.path(),
        engine().with_compiler(Armed(armed.clone())),
        permissive_ceiling(),
        None,
        vec![],
    );
    let file = tmp.path().join("swap.wasm");
    deploy(tmp.path(), "swap.wasm", &bytes(SWAP_V1));
    assert_eq!(d.update(&file).loaded, ["swap-test@1.0.0"]);

    armed.store(true, Ordering::SeqCst);
    deploy(tmp.path(), "swap.wasm", &bytes(SWAP_V2));
    assert_eq!(d.update(&file).rejected.len(), 1);
    let rejected = &d.live().status().rejected;
    assert_eq!(
        rejected[0].reason,
        "compilation exceeded its memory budget of 64 MiB"
    );
    assert_eq!(rejected[0].kept.as_deref(), Some("swap-test@1.0.0"));
    assert_eq!(serve(&d).unwrap().0, "1.0.0");

    // 3 GiB, sparse: refused from its size, without reading it.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let started = Instant::now();
    assert_eq!(d.update(&file).rejected.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    let rejected = &d.live().status().rejected;
    assert_eq!(
        rejected[0].reason,
        "the file is 3221225472 bytes, more than the 33554432 allowed"
    );
    assert_eq!(rejected[0].digest, "", "never read, never hashed");
    assert_eq!(serve(&d).unwrap().0, "1.0.0");
}

#[test]
fn versions_published_from_memory_swap_keep_the_last_good_and_withdraw() {
    // No plugin file anywhere: the versions arrive as bytes, as from a download.
    let tmp = tempfile::tempdir().unwrap();
    let d = directory(&tmp.path().join("never-created"), vec![]);
    let source = "oci://registry.example/rampart/swap";
    assert!(serve(&d).is_none());

    let first = d.publish(source, &bytes(SWAP_V1));
    assert_eq!(first.loaded.len(), 1, "{first:?}");
    let (v1, _) = serve(&d).expect("v1 serves");

    // A torn download under the same source is refused; v1 keeps serving and says so.
    let v2 = bytes(SWAP_V2);
    let torn = d.publish(source, &v2[..v2.len() / 2]);
    assert_eq!(torn.rejected, [source.to_string()]);
    assert_eq!(serve(&d).map(|(v, _)| v), Some(v1.clone()));
    let status = d.live().status();
    assert_eq!(status.rejected.len(), 1, "{status:?}");
    assert_eq!(status.rejected[0].file, source);
    assert!(status.rejected[0].kept.is_some(), "{status:?}");

    // The whole download replaces it atomically and clears the rejection.
    let second = d.publish(source, &v2);
    assert_eq!(second.loaded.len(), 1, "{second:?}");
    let (now_serving, _) = serve(&d).unwrap();
    assert_ne!(now_serving, v1);
    assert!(d.live().status().rejected.is_empty());
    assert_eq!(d.live().status().active[0].source, source);

    // Too large is refused before it is parsed.
    let huge = vec![0u8; rampart_runtime::plugin::MAX_PLUGIN_BYTES + 1];
    assert_eq!(d.publish(source, &huge).rejected.len(), 1);
    assert_eq!(serve(&d).map(|(v, _)| v), Some(now_serving));

    // A version without a source name is refused, not served under an empty name.
    assert_eq!(d.publish(" ", &v2).rejected.len(), 1);

    // Withdrawn: nothing serves the setting any more.
    let gone = d.withdraw(source);
    assert_eq!(gone.removed.len(), 1, "{gone:?}");
    assert!(serve(&d).is_none());
}
