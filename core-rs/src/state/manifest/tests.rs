use super::*;
use crate::attach::rule::RuleKind;
use crate::error::{Error, Kind};
use crate::expose::exposure::{Mode, MountRecord, Namespace};
use crate::sys;
use std::os::fd::AsFd;

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "bpfx-manifest-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn rule() -> Rule {
    Rule {
        prog: "/p".into(),
        cgroup_root: "/c".into(),
        pin_root: "/b".into(),
        expose_root: "/e".into(),
        name: "v".into(),
        ..Default::default()
    }
}

#[test]
fn update_round_trips_and_writes_nothing_on_failure() {
    let d = tmp();
    assert_eq!(read(&d).unwrap(), Manifest::default());
    update(&d, |m| {
        m.rules.push(rule());
        Ok(())
    })
    .unwrap();
    assert_eq!(read(&d).unwrap().rules.len(), 1);
    let r: Result<()> = update(&d, |m| {
        m.rules.clear();
        Err(Error::invalid("x", "no"))
    });
    assert!(r.is_err());
    assert_eq!(
        read(&d).unwrap().rules.len(),
        1,
        "a failed update writes nothing"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_corrupt_manifest_is_refused_and_kept() {
    let d = tmp();
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(path(&d), b"{not json").unwrap();
    let e = update(&d, |_| Ok(())).unwrap_err();
    assert_eq!(e.kind, Kind::Invalid);
    assert!(e.message.contains("is corrupt"), "{}", e.message);
    assert_eq!(
        std::fs::read(path(&d)).unwrap(),
        b"{not json",
        "not overwritten"
    );
    assert_eq!(
        std::fs::read(d.join("manifest.json.corrupt")).unwrap(),
        b"{not json"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_second_watcher_lock_is_refused() {
    let d = tmp();
    // The watcher makes no state directory of its own.
    let e = watcher_lock(&d).unwrap_err();
    assert_eq!(e.kind, Kind::NotFound, "{}", e.message);
    assert!(!d.exists());
    std::fs::create_dir_all(&d).unwrap();
    let first = watcher_lock(&d).unwrap();
    let e = watcher_lock(&d).unwrap_err();
    assert_eq!(e.kind, Kind::Busy);
    // It names the holder.
    assert!(
        e.message.starts_with(&format!(
            "Another watcher (pid {}) is running",
            std::process::id()
        )),
        "{}",
        e.message
    );
    drop(first);
    assert!(watcher_lock(&d).is_ok());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_state_directory_others_may_write_or_own_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tmp();
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = update(&d, |_| Ok(())).unwrap_err();
    assert_eq!(e.kind, Kind::Permission);
    assert!(
        e.message
            .contains("group or others may write it (mode 0777)"),
        "{}",
        e.message
    );
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&d, Some(65534), None).unwrap();
    let e = read(&d).unwrap_err();
    assert!(e.message.contains("belongs to uid 65534"), "{}", e.message);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_missing_state_directory_is_made_root_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tmp();
    update(&d, |_| Ok(())).unwrap();
    let mode = std::fs::metadata(&d).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o700);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn symlinks_planted_in_the_state_directory_are_not_followed() {
    let d = tmp();
    std::fs::create_dir_all(&d).unwrap();
    let victim = d.with_extension("victim");
    std::fs::write(&victim, b"root's").unwrap();
    std::os::unix::fs::symlink(&victim, d.join("lock")).unwrap();
    let e = update(&d, |_| Ok(())).unwrap_err();
    assert_eq!(e.errno, libc::ELOOP, "{}", e.message);
    std::fs::remove_file(d.join("lock")).unwrap();
    std::os::unix::fs::symlink(&victim, d.join(TMP)).unwrap();
    update(&d, |m| {
        m.rules.push(rule());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        std::fs::read(&victim).unwrap(),
        b"root's",
        "not written through"
    );
    assert_eq!(read(&d).unwrap().rules.len(), 1);
    std::fs::remove_file(&victim).unwrap();
    std::fs::remove_dir_all(&d).unwrap();
}

/// A bounded mutation fuzz of the manifest parser: a few thousand
/// mutants of a real manifest (bytes flipped, cut, duplicated, spliced)
/// must each parse or be refused, never panic.
#[test]
fn a_rule_without_the_later_fields_is_a_view_of_every_cgroup() {
    let old = br#"{"version":1,"rules":[{"prog":"/p","cgroupRoot":"/c","pinRoot":"/b","exposeRoot":"/e","name":"v"}]}"#;
    let m = parse(old).unwrap();
    assert_eq!(m.rules, vec![rule()]);
    assert_eq!(m.rules[0].kind, RuleKind::View);
    // A link rule keeps its fields, and a view's are not written.
    let link = Rule {
        kind: RuleKind::Link,
        attach_type: Some("egress".into()),
        depth: Some(1),
        glob: Some("web-*".into()),
        expose_root: PathBuf::new(),
        ..rule()
    };
    let text = serde_json::to_string(&link).unwrap();
    assert!(text.contains(r#""kind":"link""#) && text.contains(r#""match":"web-*""#));
    assert_eq!(serde_json::from_str::<Rule>(&text).unwrap(), link);
    let view = serde_json::to_string(&rule()).unwrap();
    assert!(!view.contains("kind") && !view.contains("depth"), "{view}");
}

#[test]
fn the_manifest_parser_survives_mutation() {
    let mut m = Manifest::default();
    m.exposures.push(Exposure {
        pin: "/sys/fs/bpf/p".into(),
        path: "/srv/x".into(),
        mode: Mode::Bind,
        object_id: 7,
        kind: "map".into(),
        mount: Some(MountRecord {
            mnt_id: 40,
            mnt_id_unique: Some(1 << 33),
            dev: 5,
            ino: 9,
        }),
        into: Some(Namespace {
            pid: 42,
            start_time: 1234,
            mnt_ns: 4026532178,
            ns_dev: 4,
        }),
    });
    m.rules.push(Rule {
        prog: "/sys/fs/bpf/prog".into(),
        cgroup_root: "/sys/fs/cgroup/a".into(),
        pin_root: "/sys/fs/bpf/v".into(),
        expose_root: "/run/v".into(),
        name: "stat".into(),
        into_containers: Some("/run/bpfx/stat".into()),
        ..Default::default()
    });
    let seed = serde_json::to_vec_pretty(&m).unwrap();
    assert_eq!(parse(&seed).unwrap(), m);
    let dict: [&[u8]; 8] = [
        b"{", b"}", b"[", b"]", b"\"", b"null", b"-1e999", b"\\u0000",
    ];
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n.max(1) as u64) as usize
    };
    let start = std::time::Instant::now();
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..20_000 {
        let mut b = seed.clone();
        for _ in 0..1 + next(4) {
            let at = next(b.len());
            match next(5) {
                0 => b[at] ^= 1 << next(8),
                1 => b.truncate(at),
                2 => {
                    let len = next(16).min(b.len() - at);
                    let chunk = b[at..at + len].to_vec();
                    b.splice(at..at, chunk);
                }
                3 => {
                    let w = dict[next(dict.len())];
                    b.splice(at..at, w.iter().copied());
                }
                _ => {
                    b.remove(at.min(b.len().saturating_sub(1)));
                }
            }
            if b.is_empty() {
                break;
            }
        }
        match std::panic::catch_unwind(|| parse(&b)) {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(_)) => refused += 1,
            Err(_) => panic!("the parser panicked on {:?}", String::from_utf8_lossy(&b)),
        }
        if start.elapsed().as_secs() >= 3 {
            break;
        }
    }
    assert!(ok + refused > 1000, "{ok} parsed, {refused} refused");
    assert!(refused > 0 && ok > 0, "{ok} parsed, {refused} refused");
}

fn exposure(i: usize) -> Exposure {
    Exposure {
        pin: "/sys/fs/bpf/p".into(),
        path: format!("/srv/x{i}").into(),
        mode: Mode::Symlink,
        object_id: 7,
        kind: "map".into(),
        mount: None,
        into: None,
    }
}

#[test]
fn exposures_inside_containers_share_paths_and_the_journal_keeps_them_apart() {
    let d = tmp();
    let inside = |pid: u32, ns: u64| Exposure {
        into: Some(Namespace {
            pid,
            start_time: 1,
            mnt_ns: ns,
            ns_dev: 4,
        }),
        ..exposure(0)
    };
    let (host, a, b) = (exposure(0), inside(10, 100), inside(20, 200));
    assert!(!host.same_place(&a) && !a.same_place(&b));
    assert!(a.same_place(&inside(11, 100)), "one namespace, one place");
    update(&d, |m| {
        m.exposures.extend([host.clone(), a.clone(), b.clone()]);
        Ok(())
    })
    .unwrap();
    // Adding and removing the host's exposure at the same path goes
    // through the journal and leaves the containers' alone.
    update(&d, |m| {
        m.exposures.retain(|x| x.into.is_some());
        Ok(())
    })
    .unwrap();
    assert!(d.join(JOURNAL).exists(), "the host's removal is journalled");
    assert_eq!(read(&d).unwrap().exposures, vec![a.clone(), b.clone()]);
    update(&d, |m| {
        m.exposures.push(host.clone());
        Ok(())
    })
    .unwrap();
    assert_eq!(
        read(&d).unwrap().exposures,
        vec![a.clone(), b.clone(), host.clone()]
    );
    // A container's exposure removed: written whole, the others kept.
    update(&d, |m| {
        m.exposures.retain(|x| x != &a);
        Ok(())
    })
    .unwrap();
    assert_eq!(read(&d).unwrap().exposures, vec![b, host]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn exposures_go_to_the_journal_and_replay_once() {
    let d = tmp();
    update(&d, |m| {
        m.exposures.push(exposure(0));
        Ok(())
    })
    .unwrap();
    for i in 1..4 {
        update(&d, |m| {
            m.exposures.push(exposure(i));
            Ok(())
        })
        .unwrap();
    }
    update(&d, |m| {
        m.exposures.retain(|x| x.path != Path::new("/srv/x1"));
        Ok(())
    })
    .unwrap();
    let journal = std::fs::read_to_string(d.join(JOURNAL)).unwrap();
    assert_eq!(journal.lines().count(), 4, "{journal}");
    let want: Vec<Exposure> = [0, 2, 3].into_iter().map(exposure).collect();
    assert_eq!(read(&d).unwrap().exposures, want);
    // A crash after the manifest was rewritten but before the journal
    // went: replaying it again changes nothing.
    let s = State::open(&d, false).unwrap().unwrap();
    let lock = s.lock().unwrap();
    let m = s.read().unwrap();
    let kept = std::fs::read(d.join(JOURNAL)).unwrap();
    s.write(&lock, &m).unwrap();
    assert!(!d.join(JOURNAL).exists(), "folded in");
    std::fs::write(d.join(JOURNAL), &kept).unwrap();
    assert_eq!(s.read().unwrap().exposures, want);
    // A line cut short is not applied, and is cut off by the next append.
    let mut torn = kept.clone();
    torn.extend_from_slice(b"{\"add\":{\"pin\":\"/x\"");
    std::fs::write(d.join(JOURNAL), &torn).unwrap();
    assert_eq!(s.read().unwrap().exposures, want);
    s.update(&lock, |m| {
        m.exposures.push(exposure(9));
        Ok(())
    })
    .unwrap();
    assert_eq!(s.read().unwrap().exposures.last(), Some(&exposure(9)));
    // A rule change rewrites the manifest whole.
    s.update(&lock, |m| {
        m.rules.push(rule());
        Ok(())
    })
    .unwrap();
    assert!(!d.join(JOURNAL).exists());
    assert_eq!(s.read().unwrap().exposures.len(), 4);
    drop(lock);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_manifest_without_desired_parses_and_what_files_made_round_trips() {
    use crate::state::desired::{Change, OwnedEntry, change};
    let old = br#"{"version":1,"exposures":[],"rules":[]}"#;
    let mut m = parse(old).unwrap();
    assert!(m.desired.is_empty());
    assert!(
        !serde_json::to_string(&m).unwrap().contains("desired"),
        "an empty desired is not written"
    );
    let entry = |kind: &str, name: &str| OwnedEntry {
        kind: kind.into(),
        name: name.into(),
        pins: vec![format!("/b/{name}").into()],
        paths: Vec::new(),
        spec: serde_json::json!({ "name": name }),
        fingerprint: String::new(),
    };
    let put = |put: Vec<OwnedEntry>, drop: Vec<(String, String)>| Change {
        file: "host".into(),
        put,
        drop,
    };
    change(
        &mut m,
        &put(vec![entry("view", "a"), entry("view", "b")], vec![]),
    );
    change(&mut m, &put(vec![entry("view", "a")], vec![]));
    assert_eq!(m.desired.len(), 1);
    assert_eq!(m.desired[0].entries.len(), 2, "a put replaces its like");
    let text = serde_json::to_vec(&m).unwrap();
    assert_eq!(parse(&text).unwrap(), m);
    change(&mut m, &put(vec![], vec![("view".into(), "a".into())]));
    assert_eq!(m.desired[0].entries, vec![entry("view", "b")]);
    change(&mut m, &put(vec![], vec![("view".into(), "b".into())]));
    assert!(
        m.desired.is_empty(),
        "a file with nothing left is forgotten"
    );
}

#[test]
fn a_hold_is_shared_by_this_process_locks_and_excludes_own_ones() {
    let d = tmp();
    let s = State::open(&d, true).unwrap().unwrap();
    assert_eq!(s.hold().unwrap(), 1);
    assert_eq!(s.hold().unwrap(), 2);
    // Calls made during an apply take the lock: they share the hold
    // rather than wait for it (this would hang otherwise).
    update(&d, |m| {
        m.rules.push(rule());
        Ok(())
    })
    .unwrap();
    // A lock of its own (the watcher's) is excluded meanwhile.
    let other = s.open_lock("lock", libc::O_RDONLY).unwrap();
    let busy = sys::fs::flock_exclusive(other.as_fd(), false).unwrap_err();
    assert_eq!(busy.errno(), libc::EWOULDBLOCK);
    assert_eq!(s.release(), 1);
    assert!(sys::fs::flock_exclusive(other.as_fd(), false).is_err());
    assert_eq!(s.release(), 0);
    sys::fs::flock_exclusive(other.as_fd(), false).unwrap();
    assert_eq!(s.release(), 0, "nothing left to give back");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_state_directory_under_a_directory_another_user_owns_is_refused() {
    let top = tmp().with_extension("swap");
    let d = top.join("state");
    std::fs::create_dir_all(&d).unwrap();
    std::os::unix::fs::chown(&top, Some(65534), None).unwrap();
    let e = read(&d).unwrap_err();
    assert_eq!(e.kind, Kind::Permission);
    assert!(
        e.message.contains("on the way to it belongs to uid 65534"),
        "{}",
        e.message
    );
    std::os::unix::fs::chown(&top, Some(0), None).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = read(&d).unwrap_err();
    assert!(
        e.message.contains("(mode 0777, not sticky)"),
        "{}",
        e.message
    );
    std::fs::set_permissions(&top, std::fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(read(&d).is_ok());
    std::fs::remove_dir_all(&top).unwrap();
}

#[test]
fn a_root_state_directory_of_mode_0755_is_tightened_to_0700() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tmp();
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
    update(&d, |_| Ok(())).unwrap();
    let mode = std::fs::metadata(&d).unwrap().permissions().mode();
    assert_eq!(mode & 0o7777, 0o700);
    std::fs::remove_dir_all(&d).unwrap();
}
