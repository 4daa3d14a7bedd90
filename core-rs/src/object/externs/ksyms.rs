//! `__ksym` externs resolved against the kernel: a kfunc or a typed ksym by
//! the kernel's BTF (the modules' say where one is that vmlinux lacks),
//! checked against the object's declaration as libbpf checks it; a typeless
//! one by kallsyms.

use super::kernel::Lookup;
use super::{Ext, ExternKind, Res};
use crate::error::Result;
use crate::object::btf_edit::{self as b, Btf};

pub(super) fn resolve_ksym(
    ext: &Ext,
    btf: &Btf<'_>,
    kernel: &Btf<'_>,
    modules: &mut Option<Vec<(String, Vec<u8>)>>,
    look: &mut Lookup<'_>,
) -> Result<Res> {
    let mut res = Res::default();
    if ext.kind == ExternKind::KsymTypeless {
        match look.address(&ext.name)? {
            Some(a) => {
                res.found = true;
                res.address = Some(a);
            }
            None => res.why = Some("not in /proc/kallsyms".into()),
        }
        return Ok(res);
    }
    let want = if ext.kind == ExternKind::KsymFunc {
        b::FUNC
    } else {
        b::VAR
    };
    let Some((id, rec)) = kernel.find_ksym(&ext.name).filter(|(_, r)| r.kind == want) else {
        let mods = modules.get_or_insert_with(|| look.kernel.module_btfs());
        let module = mods.iter().find_map(|(m, data)| {
            let split = Btf::parse_split(data, Some(kernel)).ok()?;
            split
                .find_ksym(&ext.name)
                .filter(|(_, r)| r.kind == want)
                .map(|_| m.clone())
        });
        res.why = Some(match &module {
            Some(m) => format!(
                "in module \"{m}\"'s BTF, which bpfx cannot yet pass to the kernel (aya 0.14 sends no fd_array)"
            ),
            None => "not in the running kernel's BTF".into(),
        });
        res.module = module;
        return Ok(res);
    };
    // The object's declaration must match the kernel's, as libbpf checks.
    let local_type = btf.get(ext.btf_id).map_or(0, |r| r.st);
    let mismatch = if want == b::FUNC {
        let (lp, kp) = (btf.params(local_type), kernel.params(rec.st));
        let lret = btf.get(local_type).map_or(0, |r| r.st);
        let kret = kernel.get(rec.st).map_or(0, |r| r.st);
        if lp.len() != kp.len() {
            Some(format!(
                "the object declares {} arguments, the kernel's has {}",
                lp.len(),
                kp.len()
            ))
        } else if btf.shape(lret) != kernel.shape(kret) {
            Some(format!(
                "it returns {} in the object and {} in the kernel",
                btf.shape(lret),
                kernel.shape(kret)
            ))
        } else {
            lp.iter().zip(&kp).enumerate().find_map(|(i, (l, k))| {
                (btf.shape(*l) != kernel.shape(*k)).then(|| {
                    format!(
                        "argument {} is a {} in the object and a {} in the kernel",
                        i + 1,
                        btf.shape(*l),
                        kernel.shape(*k)
                    )
                })
            })
        }
    } else {
        let (l, k) = (btf.shape(local_type), kernel.shape(rec.st));
        (l != k).then(|| format!("it is a {l} in the object and a {k} in the kernel"))
    };
    if let Some(m) = mismatch {
        res.fatal = Some(format!(
            "extern \"{}\" ({}) does not match the kernel's: {m}",
            ext.name,
            ext.kind.what()
        ));
        return Ok(res);
    }
    // The verifier looks a variable's address up in kallsyms, which lists
    // variables only with CONFIG_KALLSYMS_ALL. The config says so in a few
    // ms; reading /proc/kallsyms takes about 60.
    if want == b::VAR {
        let all = look
            .config()
            .map(|(_, v)| v.get("CONFIG_KALLSYMS_ALL").is_some_and(|v| v == "y"));
        let listed = match all {
            Some(all) => all,
            None => look.address(&ext.name)?.is_some(),
        };
        if !listed {
            res.why = Some(
                "in the kernel's BTF but not in /proc/kallsyms, where the kernel looks its address up (it needs CONFIG_KALLSYMS_ALL)"
                    .into(),
            );
            return Ok(res);
        }
    }
    res.found = true;
    res.kernel_id = Some(id);
    Ok(res)
}
