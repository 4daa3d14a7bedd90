// A real Prometheus for the metrics tests: started on 127.0.0.1 with a
// generated config that scrapes one target every second, its own storage
// in a temporary directory, and a free port; killed and removed when
// disposed, even when the test fails. Also `promtool check metrics`.
import { assert } from "./_assert.ts";

/** A port no one listens on now. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** One series of an instant query's result. */
export interface PromSeries {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/** A running Prometheus. */
export interface Prometheus extends AsyncDisposable {
  /** Runs the instant query `q` now. */
  query(q: string): Promise<PromSeries[]>;
  /** Runs `q` until `ok` holds of its result (at most `seconds`); returns it. */
  until(
    q: string,
    ok: (r: PromSeries[]) => boolean,
    seconds?: number,
  ): Promise<PromSeries[]>;
}

/** Starts Prometheus scraping `target` (`HOST:PORT`) every second. */
export async function prometheus(target: string): Promise<Prometheus> {
  const dir = await Deno.makeTempDir({ prefix: "bpfxprom-" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    `global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bpfx
    static_configs:
      - targets: ["${target}"]
`,
  );
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let log = "";
  const reading = (async () => {
    for await (const t of stderr) log += t;
  })();
  const base = `http://127.0.0.1:${port}`;
  const dispose = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await reading.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  };
  try {
    const deadline = performance.now() + 20000;
    for (;;) {
      try {
        const r = await fetch(`${base}/-/ready`);
        await r.body?.cancel();
        if (r.ok) break;
      } catch { /* not yet */ }
      if (performance.now() > deadline) {
        throw new Error(`prometheus did not start: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await dispose();
    throw e;
  }
  const query = async (q: string): Promise<PromSeries[]> => {
    const r = await fetch(
      `${base}/api/v1/query?query=${encodeURIComponent(q)}`,
    );
    const body = await r.json();
    assert.equal(body.status, "success", JSON.stringify(body));
    return (body.data.result as {
      metric: Record<string, string>;
      value: [number, string];
    }[])
      .map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
  };
  return {
    query,
    async until(q, ok, seconds = 20) {
      const deadline = performance.now() + seconds * 1000;
      let last: PromSeries[] = [];
      for (;;) {
        last = await query(q);
        if (ok(last)) return last;
        if (performance.now() > deadline) {
          const targets = await (await fetch(`${base}/api/v1/targets`)).text();
          assert.fail(
            `${q}: still ${
              JSON.stringify(last)
            } after ${seconds} s; targets: ${targets}; log: ${log}`,
          );
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    },
    [Symbol.asyncDispose]: dispose,
  };
}

/** Runs `promtool check metrics` on `text`; returns its complaints ("" when none, lint included). */
export async function promtool(text: string): Promise<string> {
  const p = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
  const out = await p.output();
  const said = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  // Exit 1 is a text it cannot parse, 3 lint advice (a counter without
  // `_total`, a unit not the base one): bpfx's output must give neither.
  return out.code === 0 ? "" : said || `exit ${out.code}`;
}
