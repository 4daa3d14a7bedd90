// The test gate's rule, on hand-made doctor reports: which tests run, which
// are skipped and which fail. No kernel is touched, except by the last test,
// which checks the witnesses against this kernel's doctor.
import type { DoctorCheck, DoctorReport } from "../mod.ts";
import {
  assert,
  BASE_NEEDS,
  CONFIG_WITNESSES,
  configWitness,
  type Feature,
  gateDecision,
  type GateInputs,
  kernelTest,
  privateBpffs,
  rejected,
  ROOT,
  runWitness,
  WITNESSES,
  type WitnessResult,
} from "./_kernel.ts";
import { doctor, load, VerifierError } from "../mod.ts";

const MAP_ELEM_REFUSED =
  "the kernel refuses map-element iterators: EPERM at load, before verification (a security policy, not the verifier)";

function ok(name: string): DoctorCheck {
  return { name, ok: true, detail: "works", fix: null, refused: null };
}

/** A report where everything works but `checks`, which replace theirs. */
function report(...checks: DoctorCheck[]): DoctorReport {
  const all = [
    "kernel",
    ...BASE_NEEDS,
    "iterator task",
    "iterator task parameters",
    "iterator cgroup",
    "iterator cgroup parameters",
    "iterator bpf_map_elem",
    "iterator bpf_map_elem parameters",
    "trampoline fentry",
    "fanotify bpffs",
  ].map((name) => checks.find((c) => c.name === name) ?? ok(name));
  // Doctor makes no "... parameters" check for a program that does not load.
  const shown = all.filter((c) => {
    const base = c.name.replace(/ parameters$/, "");
    return base === c.name || all.find((b) => b.name === base)?.ok !== false;
  });
  return {
    ok: shown.every((c) => c.ok),
    kernel: "6.18.44",
    checks: shown,
    bpffs: [],
    cgroup2: null,
    fixed: [],
  };
}

const refusedMapElem: DoctorCheck = {
  name: "iterator bpf_map_elem",
  ok: false,
  detail: MAP_ELEM_REFUSED,
  fix:
    "none in bpfx: allow map-element iterators in the kernel's security policy",
  refused: "eperm-before-verification",
};
const confirmed: WitnessResult = {
  refused: true,
  detail:
    "bpftool is refused too (prog 'witness': BPF program load failed: Operation not permitted)",
};

function inputs(
  r: DoctorReport | string,
  witness: Record<string, WitnessResult> = {},
  more: Partial<GateInputs> = {},
): GateInputs {
  return {
    report: r,
    witness: (f) => witness[f],
    required: true,
    ...more,
  };
}

Deno.test("gateDecision() runs a test whose every needed check is ok", () => {
  const r = report(refusedMapElem);
  assert.deepEqual(gateDecision(["iterator task"], inputs(r)), {
    action: "run",
  });
  assert.deepEqual(
    gateDecision([], inputs(report(), {}, { required: false })),
    { action: "run" },
  );
});

Deno.test("gateDecision() skips a kernel policy refusal that bpftool confirms, under BPFX_REQUIRE_KERNEL=1 too", () => {
  const r = report(refusedMapElem);
  const needs: Feature[] = [
    "iterator bpf_map_elem",
    "iterator bpf_map_elem parameters",
  ];
  for (const required of [true, false]) {
    const d = gateDecision(
      needs,
      inputs(r, { "iterator bpf_map_elem": confirmed }, { required }),
    );
    assert.deepEqual(d, {
      action: "skip",
      reason:
        `"iterator bpf_map_elem": ${MAP_ELEM_REFUSED}; ${confirmed.detail}`,
    });
  }
  // Needing only the parameters check, which doctor leaves out when the
  // program does not load, is the same refusal.
  assert.equal(
    gateDecision(
      ["iterator bpf_map_elem parameters"],
      inputs(r, { "iterator bpf_map_elem": confirmed }),
    ).action,
    "skip",
  );
});

Deno.test("gateDecision() fails a refusal that bpftool does not confirm: a bug of bpfx's own is no kernel refusal", () => {
  const r = report(refusedMapElem);
  const loads: WitnessResult = { refused: false, detail: "bpftool loads it" };
  let d = gateDecision(
    ["iterator bpf_map_elem"],
    inputs(r, { "iterator bpf_map_elem": loads }),
  );
  assert.equal(d.action, "fail");
  assert.ok(d.action === "fail" && d.reason.includes("bpftool loads it"));
  assert.match(
    (d as { reason: string }).reason,
    /doctor says the kernel refuses "iterator bpf_map_elem" .* but bpftool does not confirm it/,
  );
  // No witness tried at all: not confirmed either.
  d = gateDecision(["iterator bpf_map_elem"], inputs(r));
  assert.equal(d.action, "fail");
  assert.match(
    (d as { reason: string }).reason,
    /its witness was not tried$/,
  );
  // Without BPFX_REQUIRE_KERNEL, skipped, with that reason.
  d = gateDecision(
    ["iterator bpf_map_elem"],
    inputs(r, { "iterator bpf_map_elem": loads }, { required: false }),
  );
  assert.equal(d.action, "skip");
  assert.match((d as { reason: string }).reason, /does not confirm/);
});

Deno.test("gateDecision() fails a check that is not ok for another reason, and skips it only without BPFX_REQUIRE_KERNEL", () => {
  const missing: DoctorCheck = {
    name: "trampoline fentry",
    ok: false,
    detail: "loading failed: invalid argument",
    fix: "use a kernel with BPF trampolines",
    refused: null,
  };
  const r = report(missing);
  // A witness saying "refused" does not turn a non-policy failure into one.
  const w = { "trampoline fentry": confirmed };
  const reason =
    'the kernel lacks "trampoline fentry": loading failed: invalid argument';
  assert.deepEqual(gateDecision(["trampoline fentry"], inputs(r, w)), {
    action: "fail",
    reason,
  });
  assert.deepEqual(
    gateDecision(
      ["trampoline fentry"],
      inputs(r, w, { required: false }),
    ),
    { action: "skip", reason },
  );
  // A policy refusal next to another failure: the failure decides.
  const both = report(refusedMapElem, missing);
  const d = gateDecision(
    ["iterator bpf_map_elem", "trampoline fentry"],
    inputs(both, { "iterator bpf_map_elem": confirmed }),
  );
  assert.equal(d.action, "fail");
  assert.ok(d.action === "fail" && d.reason.startsWith(reason));
});

Deno.test("gateDecision() always needs the base checks, and fails what doctor did not check", () => {
  const noRoot: DoctorCheck = {
    name: "privileges",
    ok: false,
    detail: "not root; CAP_BPF no, CAP_SYS_ADMIN no",
    fix: "run as root",
    refused: null,
  };
  assert.deepEqual(gateDecision([], inputs(report(noRoot))), {
    action: "fail",
    reason:
      'the kernel lacks "privileges": not root; CAP_BPF no, CAP_SYS_ADMIN no',
  });
  assert.deepEqual(gateDecision(["trampoline lsm"], inputs(report())), {
    action: "fail",
    reason: 'bpfx doctor has no check "trampoline lsm"',
  });
  assert.deepEqual(
    gateDecision(["iterator task"], inputs("the core did not load")),
    {
      action: "fail",
      reason: "bpfx doctor failed: the core did not load",
    },
  );
});

Deno.test("gateDecision() fails a known bug or a gap under BPFX_REQUIRE_KERNEL=1, and skips it without", () => {
  for (
    const [more, reason] of [
      [{ knownBug: "issue 12" }, "a known bug: issue 12"],
      [{ gap: "user nobody cannot run bpfx" }, "user nobody cannot run bpfx"],
    ] as const
  ) {
    assert.deepEqual(gateDecision([], inputs(report(), {}, more)), {
      action: "fail",
      reason,
    });
    assert.deepEqual(
      gateDecision([], inputs(report(), {}, { ...more, required: false })),
      { action: "skip", reason },
    );
  }
  assert.deepEqual(gateDecision([], inputs(report(), {}, { gap: null })), {
    action: "run",
  });
});

Deno.test("gateDecision() skips a feature the kernel is built without only when the kernel's config confirms it", () => {
  const noKprobes: DoctorCheck = {
    name: "link kprobe",
    ok: false,
    detail:
      "no perf PMU at /sys/bus/event_source/devices/kprobe: the kernel is built without CONFIG_KPROBES",
    fix: "use a kernel built with CONFIG_KPROBES=y",
    refused: "not-configured",
  };
  const base = report();
  const r = { ...base, checks: [...base.checks, noKprobes] };
  const says: WitnessResult = {
    refused: true,
    detail: `the kernel's config says "# CONFIG_KPROBES is not set"`,
  };
  assert.deepEqual(
    gateDecision(["link kprobe"], inputs(r, { "link kprobe": says })),
    {
      action: "skip",
      reason: `"link kprobe": ${noKprobes.detail}; ${says.detail}`,
    },
  );
  const set: WitnessResult = {
    refused: false,
    detail: "the kernel's config has CONFIG_KPROBES=y",
  };
  const d = gateDecision(["link kprobe"], inputs(r, { "link kprobe": set }));
  assert.equal(d.action, "fail");
  assert.match(
    (d as { reason: string }).reason,
    /built without "link kprobe" .* but its config does not confirm it: the kernel's config has CONFIG_KPROBES=y/,
  );
});

Deno.test("configWitness() reads this kernel's config, and knows no option it is not given", async () => {
  assert.deepEqual(await configWitness(undefined), {
    refused: false,
    detail: "no kernel option is known for it",
  });
  // CONFIG_BPF is set on any kernel bpfx runs on.
  const w = await configWitness("CONFIG_BPF");
  assert.equal(w.refused, false);
  assert.match(w.detail, /CONFIG_BPF=y|not readable/);
});

Deno.test("runWitness() of a witness that was not built says so, and confirms nothing", async () => {
  const w = await runWitness(`${ROOT}/build/tests/nope.bpf.o`, "/nonexistent");
  assert.equal(w.refused, false);
  assert.match(w.detail, /is not built \(run `make witnesses`\)/);
});

kernelTest(
  "each witness agrees with doctor on this kernel: bpftool is refused exactly the programs doctor finds refused, and bpfx says why",
  async () => {
    await using b = await privateBpffs();
    const checks = doctor().checks;
    for (const [feature, name] of Object.entries(WITNESSES)) {
      const check = checks.find((c) => c.name === feature);
      assert.ok(check !== undefined, `doctor checks "${feature}"`);
      const w = await runWitness(`${ROOT}/build/tests/${name}.bpf.o`, b.path);
      if (check.ok) {
        assert.deepEqual(w, { refused: false, detail: "bpftool loads it" });
      } else if (check.refused === "eperm-before-verification") {
        assert.equal(w.refused, true, `${feature}: ${w.detail}`);
        // bpfx says the same of its own load: a policy, not the verifier
        // (fmod_ret sections are beyond the loader bpfx uses).
        if (name === "fmod_ret") continue;
        const e = await rejected(() =>
          load(`${ROOT}/build/tests/${name}.bpf.o`, {
            pinDir: `${b.path}/${name}`,
            pinByNameRoot: b.path,
          })
        );
        assert.deepEqual([e.kind, e.op, e.errno], [
          "permission",
          "BPF_PROG_LOAD",
          1,
        ]);
        assert.match(
          e.message,
          /: the kernel refuses this type of program: EPERM at load, before verification \(a security policy, not the verifier\)$/,
        );
        assert.ok(!(e instanceof VerifierError), e.message);
      }
    }
    // Every feature a test can name is a check doctor makes here, or the
    // parameters of an iterator whose program does not load.
    const features: Feature[] = [
      "cgroup2",
      "iterator task parameters",
      "iterator cgroup parameters",
      "iterator bpf_map_elem parameters",
      "link types",
      "tracefs",
      "fanotify bpffs",
      "fanotify cgroupfs",
      "mount namespaces",
      ...Object.keys(WITNESSES) as Feature[],
      ...Object.keys(CONFIG_WITNESSES) as Feature[],
    ];
    for (const f of features) {
      const base = checks.find((c) => c.name === f.replace(/ parameters$/, ""));
      assert.ok(
        checks.some((c) => c.name === f) || base?.ok === false,
        `doctor has no check "${f}"`,
      );
    }
  },
  { needs: [] },
);
