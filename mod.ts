/**
 * Script Linux BPF pin workflows from Deno: inspect BPF ELF objects, load and
 * pin them (or some of their programs) on bpffs, list, describe, open and
 * remove pins; run a program once with a context ({@linkcode runProgram});
 * make views
 * (iterator links pinned on bpffs, whose reads run the program) and read
 * them; keep a view per cgroup of a subtree in a mirror of the cgroup tree,
 * or a cgroup program's link per selected cgroup ({@linkcode attach},
 * {@linkcode attachStatus}); attach any other program as a pinned link
 * ({@linkcode attachLink}); expose pins at paths outside bpffs ({@linkcode expose}); and run the
 * watcher ({@linkcode watch}) that keeps exposures and attach rules true as
 * pins and cgroups come and go, or watch directories yourself
 * ({@linkcode watchFs}).
 *
 * Most calls are synchronous (they cross into the Rust core through a
 * synchronous FFI call). Reading a view ({@linkcode ViewReader},
 * {@linkcode readView}), {@linkcode attach} and {@linkcode detach} run on
 * Deno's blocking thread pool and return promises; {@linkcode Watcher} and
 * {@linkcode FsWatcher} are async iterables that wait there. All throw one
 * family of errors: {@linkcode BpfError} and its subclasses, plus
 * {@linkcode BpfNotFoundError} and {@linkcode BpfAlreadyExistsError}, which
 * are also `Deno.errors.NotFound` and `Deno.errors.AlreadyExists`.
 *
 * Exposures, attach rules and the watcher share a state directory, found by
 * one rule ({@linkcode stateDir}): `options.state`, else the environment
 * variable `BPFX_STATE`, else `/run/bpfx`.
 *
 * Permissions: `--allow-ffi` always, `--allow-env=BPFX_LIB` to honour the
 * `BPFX_LIB` override, and `--allow-env=BPFX_STATE` to honour that one.
 * Imported over https, the import needs `--allow-import`, and the first run
 * downloads the core into Deno's cache when {@linkcode ready} is awaited,
 * which needs `--allow-net`, `--allow-read`, `--allow-write` and
 * `--allow-env`: `await ready()` once before the first call. Most calls need root or CAP_BPF on a kernel with bpffs;
 * {@linkcode inspect} and {@linkcode doctor} need neither; the watcher and
 * {@linkcode watchFs} need CAP_SYS_ADMIN (fanotify) and Linux 5.9.
 *
 * @example Load an object, look at what it pinned, and clean up
 * ```ts ignore
 * // sudo deno run --allow-ffi --allow-env=BPFX_LIB example.ts
 * import { inspect, load, ls, openProgram, unpin } from "./mod.ts";
 *
 * const object = "/usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o";
 * for (const p of inspect(object).programs) {
 *   console.log(`${p.name}: ${p.type}, ${p.instructions} instructions`);
 * }
 *
 * const dir = "/sys/fs/bpf/example";
 * const report = load(object, { pinDir: dir });
 * try {
 *   for (const pin of ls(dir)) console.log(pin.kind, pin.id, pin.path);
 *   const first = report.programs[0];
 *   if (first) {
 *     using prog = openProgram(first.path);
 *     console.log(prog.name, prog.info().tag);
 *   }
 * } finally {
 *   unpin(dir, { recursive: true });
 *   // Maps pinned by name went to /sys/fs/bpf (the default pinByNameRoot).
 *   for (const map of report.maps) {
 *     if (map.pinning === "by-name" && !map.reused) unpin(map.path);
 *   }
 * }
 * ```
 *
 * @example Make a view of this process's threads and read it
 * ```ts ignore
 * // sudo deno run --allow-ffi --allow-env=BPFX_LIB views.ts
 * import { createView, openView, unpin } from "./mod.ts";
 *
 * const pin = "/sys/fs/bpf/mythreads";
 * const info = createView("build/examples/tasks.bpf.o:tasks", {
 *   pin,
 *   pid: Deno.pid,
 * });
 * console.log(info.target); // { iter: "task", tid: 0, pid: <this pid> }
 * try {
 *   using reader = openView(pin);
 *   for await (const line of reader.lines()) console.log(line);
 * } finally {
 *   unpin(pin);
 * }
 * ```
 *
 * @example Expose a view outside bpffs, and let the watcher remove it with its pin
 * ```ts ignore
 * // sudo deno run --allow-ffi --allow-env=BPFX_LIB,BPFX_STATE expose.ts
 * import { createView, expose, watch } from "./mod.ts";
 *
 * const state = "/run/bpfx";
 * createView("build/examples/tasks.bpf.o:tasks", { pin: "/sys/fs/bpf/tasks" });
 * expose("/sys/fs/bpf/tasks", { path: "/srv/tasks", state });
 * await using watcher = watch({ state });
 * Deno.addSignalListener("SIGINT", () => watcher.close());
 * for await (const action of watcher) {
 *   // `rm /sys/fs/bpf/tasks` elsewhere: "unexposed /srv/tasks"
 *   console.log(action.action, action.path ?? "", action.why);
 * }
 * ```
 *
 * @module
 */

export {
  type AnyBpfError,
  BpfAlreadyExistsError,
  BpfError,
  type BpfErrorFields,
  type BpfErrorInit,
  BpfNotFoundError,
  type CoreErrorObject,
  type ErrorKind,
  isBpfError,
  NotSupportedError,
  VerifierError,
} from "./src/errors.ts";
export {
  type ExternKind,
  type ExternSpec,
  inspect,
  type InspectOptions,
  load,
  type LoadedMap,
  type LoadedProgram,
  type LoadOptions,
  type LoadReport,
  type MapSpec,
  type ObjectSpec,
  type Pinning,
  type ProgramSpec,
  type Renamed,
} from "./src/objects.ts";
export { type RunOptions, runProgram, type RunResult } from "./src/run.ts";
export {
  DEFAULT_BPFFS,
  type JsonValue,
  type LinkInfo,
  type LinkTarget,
  ls,
  type LsOptions,
  type MapInfo,
  type ObjectInfo,
  type ObjectInfoBase,
  type ObjectKind,
  type PinEntry,
  type ProgramInfo,
  renamePin,
  type RenamePinOptions,
  show,
  unpin,
  type UnpinOptions,
  type UnpinReport,
} from "./src/pins.ts";
export {
  BpfMap,
  BpfObject,
  Link,
  openHandles,
  openLink,
  openMap,
  type OpenOptions,
  openPin,
  openProgram,
  Program,
} from "./src/handles.ts";
export {
  type IterateOptions,
  type MapBtf,
  type MapChunk,
  MapIteration,
  type MapMeta,
  type MapOptions,
  openRingBuf,
  type PushOptions,
  RingBuf,
  type SetOptions,
  type UpdateFlag,
} from "./src/maps/mod.ts";
export {
  type BtfArray,
  btfCodec,
  type BtfCodecOptions,
  type BtfEnum,
  type BtfInt,
  type BtfMember,
  type BtfStruct,
  type BtfType,
  type Codec,
  type LpmKey,
} from "./src/codec/mod.ts";
export {
  type Attachment,
  type AttachmentState,
  attachStatus,
  type CgroupAttachType,
  type RuleStatus,
} from "./src/cgroup_links.ts";
export {
  attach,
  type AttachItem,
  type AttachOptions,
  type AttachPlaced,
  type AttachReport,
  type AttachSkipped,
  type CgroupOrder,
  type CgroupViewParams,
  createView,
  detach,
  type DetachOptions,
  type DetachReport,
  type MapTarget,
  type MapViewParams,
  openView,
  type PartialRead,
  type PlainViewParams,
  type ProgressCallback,
  readView,
  type TaskTarget,
  type TaskViewParams,
  type ThreadViewParams,
  type ViewOptions,
  type ViewParams,
  type ViewPin,
  ViewReader,
} from "./src/views.ts";
export {
  attachLink,
  type AttachLinkOptions,
  type LinkKind,
  type MovedLink,
  updateLink,
  type UpdateLinkOptions,
} from "./src/links.ts";
export {
  type AttachRule,
  expose,
  type ExposeOptions,
  type Exposure,
  type ExposureMode,
  type ExposureMount,
  type ExposureNamespace,
  exposures,
  type ExposureState,
  type ExposureStatus,
  type Manifest,
  readManifest,
  unexpose,
  type Unexposed,
  type UnexposeOptions,
} from "./src/expose.ts";
export {
  apply,
  type DesiredAction,
  type DesiredActionKind,
  type DesiredChecks,
  DesiredError,
  type DesiredExposure,
  type DesiredKind,
  type DesiredLink,
  type DesiredMap,
  type DesiredObject,
  type DesiredPlan,
  type DesiredProgramRef,
  type DesiredRule,
  type DesiredState,
  type DesiredValue,
  type DesiredView,
  type OwnedEntry,
  plan,
  type PlanOptions,
} from "./src/desired/mod.ts";
export type {
  ConfigEvent,
  ConfigEventKind,
  ConfigTrigger,
  ConfigWatcher,
  ConfigWatchEvent,
  WatchConfigOptions,
} from "./src/desired/watch.ts";
export {
  DEFAULT_STATE,
  holdState,
  stateDir,
  type StateHold,
  type StateOptions,
} from "./src/state.ts";
export {
  type FsEvent,
  type FsEventKind,
  FsWatcher,
  watch,
  type WatchAction,
  type WatchActionKind,
  Watcher,
  watchFs,
  type WatchFsOptions,
  type WatchOptions,
} from "./src/watch.ts";
export {
  doctor,
  type DoctorCheck,
  type DoctorOptions,
  type DoctorRefusal,
  type DoctorReport,
  type LibraryLocation,
  libraryLocation,
  ready,
} from "./src/doctor.ts";
export { mountBpffs, unmount } from "./src/mounts.ts";
export { nameBytes, nameText } from "./src/names.ts";
export { VERSION, version, type VersionInfo } from "./src/version.ts";
export {
  collectMetrics,
  type CollectOptions,
  CONTENT_TYPES,
  DEFAULT_LISTEN,
  DEFAULT_METRICS_PORT,
  escapeLabel,
  type ExpositionFormat,
  formatMetrics,
  type LabelDecoder,
  type ListenAddress,
  type MapMetric,
  type MetricFamily,
  type MetricHistogram,
  type MetricLabel,
  type MetricSample,
  MetricsCollector,
  type MetricsConfig,
  type MetricsError,
  type MetricsLocate,
  type MetricsPath,
  type MetricsServer,
  type MetricsSnapshot,
  negotiate,
  parseListen,
  serveMetrics,
  type ServeMetricsOptions,
  type ViewMetric,
} from "./src/metrics/mod.ts";
