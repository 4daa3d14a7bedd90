//! The extern pass on objects clang builds from C in each test, against a
//! fake kernel whose BTF is that of another such object.

use super::kconfig::{Kcfg, kernel_version, syscall_prefix};
use super::*;
use std::path::PathBuf;
use std::process::Command;

/// Compiles BPF C `src` with clang (as `make` does the examples).
fn compile(name: &str, src: &str) -> Vec<u8> {
    // Tests run in parallel, several compiling the same name: each compile
    // gets a directory of its own, or one test reads another's half-written
    // object; it is removed once the object is read.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("bpfx-externs-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let o: PathBuf = dir.join(format!("{name}.o"));
    std::fs::write(&c, src).unwrap();
    let out = Command::new(std::env::var("CLANG").unwrap_or_else(|_| "clang".into()))
        .args(["-g", "-O2", "-target", "bpf", "-c"])
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .output()
        .expect("clang runs");
    let obj = std::fs::read(&o);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    obj.unwrap()
}

/// The report of each extern, by name.
fn by_name(linked: &Linked) -> HashMap<&str, &ExternReport> {
    linked
        .externs
        .iter()
        .map(|x| (x.name.as_str(), x))
        .collect()
}

/// An object whose one program calls `call` after declaring `decl`.
fn calling(name: &str, decl: &str, call: &str) -> Vec<u8> {
    compile(
        name,
        &format!(
            r#"{TYPES}
{decl}
__attribute__((section("iter/task"), used)) int prog(void *c) {{ {call}; return 0; }}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#
        ),
    )
}

/// A fake kernel: its BTF is that of a C file that defines the kfuncs
/// and variables, compiled by clang.
struct Fake {
    btf: &'static [u8],
    index: Btf<'static>,
    modules: Vec<(String, Vec<u8>)>,
    kallsyms: String,
    config: Option<String>,
    release: String,
}

impl Kernel for Fake {
    fn vmlinux_btf(&self) -> Result<&Btf<'static>> {
        Ok(&self.index)
    }
    fn module_btfs(&self) -> Vec<(String, Vec<u8>)> {
        self.modules.clone()
    }
    fn kallsyms(&self) -> Result<String> {
        Ok(self.kallsyms.clone())
    }
    fn config(&self) -> Option<(String, String)> {
        self.config.clone().map(|c| ("/fake/config".into(), c))
    }
    fn release(&self) -> String {
        self.release.clone()
    }
}

const TYPES: &str = r#"
struct task_struct { int pid; };
struct rq { int cpu; };
enum bpf_func_id { BPF_FUNC_unspec, BPF_FUNC_get_attach_cookie };
"#;

fn fake() -> Fake {
    let o = compile(
        "vmlinux",
        &format!(
            r#"{TYPES}
struct rq runqueues;
enum bpf_func_id ids;
__attribute__((noinline)) struct task_struct *bpf_task_acquire(struct task_struct *p) {{ return p; }}
__attribute__((noinline)) void bpf_rcu_read_lock(void) {{ }}
__attribute__((noinline)) int bpf_two(int a, int b) {{ return a + b; }}
"#
        ),
    );
    let elf = Elf::parse(o).unwrap();
    let btf: &'static [u8] = elf.bytes(elf.section(".BTF").unwrap()).to_vec().leak();
    Fake {
        btf,
        index: Btf::parse(btf).unwrap(),
        modules: Vec::new(),
        kallsyms: "ffffffff81000000 T _text\nffffffff81234560 T bpf_prog_fops\nffffffff82000000 D runqueues\nffffffff81100000 T __x64_sys_bpf\n".into(),
        config: Some("# comment\nCONFIG_KALLSYMS_ALL=y\nCONFIG_HZ=250\nCONFIG_BPF_SYSCALL=y\nCONFIG_IKCONFIG=m\nCONFIG_DEFAULT_HOSTNAME=\"(none)\"\n# CONFIG_OFF is not set\n".into()),
        release: "6.18.44-test".into(),
    }
}

const KSYMS: &str = r#"
#define __ksym __attribute__((section(".ksyms")))
#define __weak __attribute__((weak))
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_not_here(void) __ksym __weak;
extern const struct rq runqueues __ksym;
extern const void bpf_prog_fops __ksym;
extern const void bpf_absent_sym __ksym __weak;
extern int bpf_two(int a, int b) __ksym __weak;
long out;
__attribute__((section("iter/task"), used)) int prog(struct task_struct *t)
{
	bpf_rcu_read_lock();
	t = bpf_task_acquire(t);
	if (bpf_not_here)
		bpf_not_here();
	out = (long)&runqueues + (long)&bpf_prog_fops + (long)&bpf_absent_sym + (bpf_two ? 1 : 0);
	return t->pid;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#;

/// The instructions of section `name`, as (code, src_reg, off, imm).
fn insns(data: &[u8], name: &str) -> Vec<(u8, u8, i16, i32)> {
    let elf = Elf::parse(data.to_vec()).unwrap();
    elf.bytes(elf.section(name).unwrap())
        .chunks(8)
        .map(|i| {
            (
                i[0],
                i[1] >> 4,
                i16::from_le_bytes([i[2], i[3]]),
                i32::from_le_bytes([i[4], i[5], i[6], i[7]]),
            )
        })
        .collect()
}

/// The offsets, in section `target`, that `sym` is relocated at.
fn relocs_of(data: &[u8], target: &str, sym: &str) -> Vec<usize> {
    let elf = Elf::parse(data.to_vec()).unwrap();
    let syms = elf.symbols();
    let t = elf.section(target).unwrap();
    let (rel, _) = elf
        .code_relocations()
        .into_iter()
        .find(|&(_, x)| x == t)
        .unwrap();
    elf.relocations(rel)
        .into_iter()
        .filter(|r| syms[r.sym].name == sym)
        .map(|r| r.offset / 8)
        .collect()
}

fn kernel_id(k: &Fake, name: &str) -> i32 {
    k.index.find_ksym(name).unwrap().0 as i32
}

fn features() -> aya_obj::btf::BtfFeatures {
    aya_obj::btf::BtfFeatures::new(true, true, true, true, true, true, true, true)
}

#[test]
fn ksyms_resolve_and_patch_their_instructions() {
    let k = fake();
    let obj = compile("ksyms", &format!("{TYPES}{KSYMS}"));
    let calls = |s| relocs_of(&obj, "iter/task", s);
    let (acquire, lock) = (calls("bpf_task_acquire"), calls("bpf_rcu_read_lock"));
    let not_here = calls("bpf_not_here");
    let (rq, fops, absent) = (
        calls("runqueues"),
        calls("bpf_prog_fops"),
        calls("bpf_absent_sym"),
    );
    let two = calls("bpf_two");
    assert_eq!(not_here.len(), 2, "a load (the test) and a call");

    let linked = link(&obj, &k).unwrap().expect("the object has externs");
    let ins = insns(&linked.data, "iter/task");
    for (at, name) in [
        (acquire[0], "bpf_task_acquire"),
        (lock[0], "bpf_rcu_read_lock"),
    ] {
        assert_eq!(
            ins[at],
            (0x85, 2, 0, kernel_id(&k, name)),
            "kfunc call {name}"
        );
    }
    let (load, call) = (not_here[0], not_here[1]);
    assert_eq!(ins[load].0, 0x18);
    assert_eq!(
        (ins[load].1, ins[load].3, ins[load + 1].3),
        (0, 0, 0),
        "weak kfunc address is 0"
    );
    let sym = Elf::parse(obj.clone())
        .unwrap()
        .symbols()
        .into_iter()
        .find(|s| s.name == "bpf_not_here")
        .unwrap()
        .index as i32;
    assert_eq!(
        ins[call],
        (0x85, 0, 0, POISON_KFUNC + sym),
        "weak kfunc call poisoned"
    );
    let mut refused = Error::new(
        Kind::Verifier,
        "BPF_PROG_LOAD",
        "Cannot load program \"prog\"",
    );
    refused.log = Some(format!(
        "0: (85) call unknown#{}\ninvalid func unknown#{}\n",
        POISON_KFUNC + sym,
        POISON_KFUNC + sym
    ));
    let e = explain(refused, &linked.data);
    assert_eq!(
        e.message,
        "Cannot load program \"prog\": it calls the weak kfunc \"bpf_not_here\", which this kernel lacks"
    );
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("bpf_ksym_exists(bpf_not_here)")
    );
    assert_eq!(
        (ins[rq[0]].1, ins[rq[0]].3),
        (3, kernel_id(&k, "runqueues"))
    );
    assert_eq!(ins[rq[0] + 1].3, 0);
    assert_eq!(
        (ins[fops[0]].1, ins[fops[0]].3, ins[fops[0] + 1].3),
        (0, 0x81234560u32 as i32, -1)
    );
    assert_eq!((ins[absent[0]].1, ins[absent[0]].3), (0, 0));
    assert_eq!(
        (ins[two[0]].0, ins[two[0]].1, ins[two[0]].3),
        (0x18, 3, kernel_id(&k, "bpf_two")),
        "a kfunc's address is a BTF id load"
    );
    for s in [
        "bpf_task_acquire",
        "runqueues",
        "bpf_not_here",
        "bpf_prog_fops",
    ] {
        assert!(
            relocs_of(&linked.data, "iter/task", s).is_empty(),
            "{s} relocation dropped"
        );
    }

    let r = by_name(&linked);
    assert_eq!(r["bpf_task_acquire"].kind, ExternKind::KsymFunc);
    assert_eq!(r["runqueues"].kind, ExternKind::KsymVar);
    assert_eq!(r["bpf_prog_fops"].kind, ExternKind::KsymTypeless);
    assert_eq!(
        r["bpf_prog_fops"].address.as_deref(),
        Some("0xffffffff81234560")
    );
    assert!(r["bpf_not_here"].weak && !r["bpf_not_here"].found);

    // aya 0.14 refuses the object as compiled, and takes it linked.
    let mut before = aya_obj::Object::parse(&obj).unwrap();
    let err = before.fixup_and_sanitize_btf(&features()).unwrap_err();
    assert!(err.to_string().contains(".ksyms"), "{err}");
    let mut after = aya_obj::Object::parse(&linked.data).unwrap();
    after.fixup_and_sanitize_btf(&features()).unwrap();
    let text = HashSet::new();
    after.relocate_calls(&text).unwrap();
    // The linked BTF is valid BTF by our own reader too.
    let elf = Elf::parse(linked.data.clone()).unwrap();
    let btf = Btf::parse(elf.bytes(elf.section(".BTF").unwrap())).unwrap();
    let sec = btf.datasec(".ksyms").unwrap();
    assert_eq!(
        btf.get(sec).unwrap().st as usize,
        4 * btf.sec_entries(sec).len()
    );
    for e in btf.sec_entries(sec) {
        assert_eq!(
            btf.get(e.type_id).unwrap().kind,
            b::VAR,
            "every .ksyms entry is a VAR"
        );
    }
    assert!(
        !btf.own()
            .any(|(_, r)| r.kind == b::FUNC && r.vlen as u32 == b::FUNC_EXTERN)
    );
}

#[test]
fn a_strong_extern_the_kernel_lacks_is_refused_by_name() {
    let mut k = fake();
    let obj = calling(
        "strong",
        "extern void bpf_gone(void) __attribute__((section(\".ksyms\")));",
        "bpf_gone()",
    );
    let e = link(&obj, &k).err().unwrap();
    assert_eq!(e.kind, Kind::NotSupported);
    assert_eq!(
        e.message,
        "extern \"bpf_gone\" (kfunc) is not in the running kernel's BTF"
    );
    assert!(e.hint.as_deref().unwrap().contains("__weak"));
    let listed = list(&obj, &k);
    assert_eq!((listed.len(), listed[0].found), (1, false));

    // A typed ksym the kernel cannot give the address of: the config
    // says so, or (without a config) kallsyms does.
    k.kallsyms = "ffffffff81000000 T _text\n".into();
    let obj = compile("var", &format!("{TYPES}{KSYMS}"));
    k.config = Some("CONFIG_HZ=250\n".into());
    let e = link(&obj, &k).err().unwrap();
    assert!(
        e.message.contains(
            "extern \"runqueues\" (ksym) is in the kernel's BTF but not in /proc/kallsyms"
        ),
        "{}",
        e.message
    );
    k.config = None;
    let e = link(&obj, &k).err().unwrap();
    assert!(
        e.message.contains(
            "extern \"runqueues\" (ksym) is in the kernel's BTF but not in /proc/kallsyms"
        ),
        "{}",
        e.message
    );
    assert!(
        e.message
            .contains("extern \"bpf_prog_fops\" (typeless ksym) is not in /proc/kallsyms"),
        "{}",
        e.message
    );
}

/// A module's split BTF over `base`: a FUNC_PROTO and a FUNC `name`.
fn module_btf(base: &[u8], name: &str) -> Vec<u8> {
    let base = Btf::parse(base).unwrap();
    let first = base.end_id();
    let str_base = base.str_end();
    let mut strs = vec![0u8];
    strs.extend_from_slice(name.as_bytes());
    strs.push(0);
    let mut types = Vec::new();
    for w in [
        0,
        b::FUNC_PROTO << 24,
        0,
        str_base + 1,
        b::FUNC << 24 | b::FUNC_GLOBAL,
        first,
    ] {
        types.extend_from_slice(&w.to_le_bytes());
    }
    let mut out = vec![0x9f, 0xeb, 1, 0];
    for v in [24, 0, types.len(), types.len(), strs.len()] {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
    out.extend_from_slice(&types);
    out.extend_from_slice(&strs);
    out
}

#[test]
fn a_module_kfunc_is_refused_naming_the_module() {
    let mut k = fake();
    k.modules = vec![("fake_mod".into(), module_btf(k.btf, "bpf_mod_func"))];
    let obj = calling(
        "module",
        "extern void bpf_mod_func(void) __attribute__((section(\".ksyms\")));",
        "bpf_mod_func()",
    );
    let e = link(&obj, &k).err().unwrap();
    assert_eq!(
        e.message,
        "extern \"bpf_mod_func\" (kfunc) is in module \"fake_mod\"'s BTF, which bpfx cannot yet pass to the kernel (aya 0.14 sends no fd_array)"
    );
    let listed = list(&obj, &k);
    assert_eq!(listed[0].module.as_deref(), Some("fake_mod"));
}

#[test]
fn a_kfunc_declared_unlike_the_kernels_is_refused() {
    let obj = calling(
        "proto",
        "extern int bpf_two(int a) __attribute__((section(\".ksyms\")));",
        "bpf_two(1)",
    );
    let e = link(&obj, &fake()).err().unwrap();
    assert_eq!(
        e.message,
        "extern \"bpf_two\" (kfunc) does not match the kernel's: the object declares 1 arguments, the kernel's has 2"
    );
}

const KCONFIG: &str = r#"
#define __kconfig __attribute__((section(".kconfig")))
#define __weak __attribute__((weak))
enum libbpf_tristate { TRI_NO = 0, TRI_YES = 1, TRI_MODULE = 2 };
extern int CONFIG_HZ __kconfig;
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;
extern enum libbpf_tristate CONFIG_IKCONFIG __kconfig;
extern _Bool LINUX_HAS_BPF_COOKIE __kconfig;
extern _Bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern long long CONFIG_ABSENT __kconfig __weak;
extern char CONFIG_DEFAULT_HOSTNAME[8] __kconfig;
long out;
__attribute__((section("iter/task"), used)) int prog(void *c)
{
	out = CONFIG_HZ + LINUX_KERNEL_VERSION + CONFIG_BPF_SYSCALL + CONFIG_IKCONFIG +
	      LINUX_HAS_BPF_COOKIE + LINUX_HAS_SYSCALL_WRAPPER + CONFIG_ABSENT + CONFIG_DEFAULT_HOSTNAME[1];
	return 0;
}
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
"#;

#[test]
fn kconfig_values_go_into_a_rodata_section_the_loads_point_at() {
    let k = fake();
    let obj = compile("kconfig", KCONFIG);
    let linked = link(&obj, &k).unwrap().unwrap();
    let elf = Elf::parse(linked.data.clone()).unwrap();
    let sec = elf.section(KCONFIG_SECTION).expect("the kconfig section");
    let data = elf.bytes(sec).to_vec();
    let syms = elf.symbols();
    let value = |name: &str, len: usize| -> Vec<u8> {
        let s = syms.iter().find(|s| s.name == name).unwrap();
        assert_eq!(s.shndx as usize, sec, "{name} points at the section");
        let symtab = elf
            .sections
            .iter()
            .position(|s| s.kind == e::SHT_SYMTAB)
            .unwrap();
        let o = elf.sections[symtab].offset + s.index * e::SYM + 8;
        let off = u64::from_le_bytes(elf.data[o..o + 8].try_into().unwrap()) as usize;
        data[off..off + len].to_vec()
    };
    assert_eq!(value("CONFIG_HZ", 4), 250i32.to_le_bytes());
    assert_eq!(
        value("LINUX_KERNEL_VERSION", 4),
        ((6u32 << 16) + (18 << 8) + 44).to_le_bytes()
    );
    assert_eq!(value("CONFIG_BPF_SYSCALL", 1), [1]);
    assert_eq!(
        value("CONFIG_IKCONFIG", 4),
        2u32.to_le_bytes(),
        "m is TRI_MODULE"
    );
    assert_eq!(value("LINUX_HAS_BPF_COOKIE", 1), [1]);
    assert_eq!(
        value("LINUX_HAS_SYSCALL_WRAPPER", 1),
        [u8::from(syscall_prefix() == "__x64_")]
    );
    assert_eq!(
        value("CONFIG_ABSENT", 8),
        [0; 8],
        "a weak absent value is 0"
    );
    assert_eq!(&value("CONFIG_DEFAULT_HOSTNAME", 8), b"(none)\0\0");

    // aya makes a read-only map of the section and points the loads at it.
    let mut o = aya_obj::Object::parse(&linked.data).unwrap();
    o.fixup_and_sanitize_btf(&features()).unwrap();
    let map = &o.maps[KCONFIG_SECTION];
    assert_eq!(map.data(), &data[..]);
    assert_eq!(map.map_flags() & 0x80, 0x80, "BPF_F_RDONLY_PROG");
    let maps: Vec<(String, aya_obj::Map)> =
        o.maps.iter().map(|(n, m)| (n.clone(), m.clone())).collect();
    let text = HashSet::new();
    o.relocate_maps(maps.iter().map(|(n, m)| (n.as_str(), 7, m)), &text)
        .unwrap();
    let f = o.functions.values().next().unwrap();
    let hz = relocs_of(&obj, "iter/task", "CONFIG_HZ")[0];
    let ins = f.instructions[hz];
    assert_eq!(
        (ins.src_reg(), ins.imm),
        (2, 7),
        "BPF_PSEUDO_MAP_VALUE of the map"
    );

    let r = by_name(&linked);
    assert_eq!(r["CONFIG_HZ"].value.as_deref(), Some("250"));
    assert!(!r["CONFIG_ABSENT"].found);
    assert_eq!(
        r["CONFIG_ABSENT"].why.as_deref(),
        Some("not set in /fake/config")
    );
}

#[test]
fn a_strong_absent_kconfig_value_is_refused() {
    let mut k = fake();
    k.config = Some("CONFIG_BPF_SYSCALL=y\n".into());
    let e = link(&compile("kconfig2", KCONFIG), &k).err().unwrap();
    assert!(
        e.message
            .starts_with("extern \"CONFIG_HZ\" (kconfig) is not set in /fake/config"),
        "{}",
        e.message
    );
    k.config = None;
    let e = link(&compile("kconfig3", KCONFIG), &k).err().unwrap();
    assert!(
        e.message.contains("the kernel's config is not readable"),
        "{}",
        e.message
    );
}

#[test]
fn kconfig_values_encode_as_libbpf_does() {
    let int = Kcfg::Int {
        size: 4,
        signed: true,
    };
    assert_eq!(int.encode("250"), Ok(250i32.to_le_bytes().to_vec()));
    assert_eq!(int.encode("-2"), Ok((-2i32).to_le_bytes().to_vec()));
    assert_eq!(int.encode("0x10"), Ok(16i32.to_le_bytes().to_vec()));
    assert_eq!(int.encode("010"), Ok(8i32.to_le_bytes().to_vec()));
    assert!(int.encode("y").is_err());
    assert!(
        Kcfg::Int {
            size: 2,
            signed: false
        }
        .encode("70000")
        .is_err()
    );
    assert_eq!(Kcfg::Bool.encode("y"), Ok(vec![1]));
    assert!(Kcfg::Bool.encode("m").is_err());
    assert_eq!(Kcfg::Tristate.encode("m"), Ok(2u32.to_le_bytes().to_vec()));
    assert_eq!(Kcfg::Char.encode("m"), Ok(vec![b'm']));
    assert_eq!(
        Kcfg::CharArray(4).encode("\"abcdef\""),
        Ok(b"abc\0".to_vec())
    );
    assert!(Kcfg::CharArray(4).encode("12").is_err());
    assert_eq!(kernel_version("6.18.44-fc-v1045"), Some(397868));
    assert_eq!(kernel_version("5.4.300"), Some((5 << 16) + (4 << 8) + 255));
    assert_eq!(kernel_version("6"), None);
}

#[test]
fn an_object_without_externs_is_left_alone() {
    let obj = compile(
        "plain",
        r#"__attribute__((section("iter/task"), used)) int prog(void *c) { return 0; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";"#,
    );
    assert!(link(&obj, &fake()).unwrap().is_none());
    assert!(list(&obj, &fake()).is_empty());
}
