/**
 * `npm run bench:kernels [-- --json FILE] [--threads N] [--quick]`
 *
 * Ternary matmul on our kernels, for every ISA path and ternary format, beside the same product
 * as an fp32 MatMul on onnxruntime-node (same shape, M and thread count) and the machine's
 * measured read bandwidth, all in one run so the ratios hold on a noisy machine.
 */
import { cpus } from "node:os";
import {
  dequantize,
  hardware,
  type Isa,
  matmul,
  type PackedWeight,
  quantize,
  readBandwidth,
  setThreads,
  TERNARY_TYPES,
  type WeightType,
} from "../kernels/index.js";
import { createOrtMatmul } from "./ort-matmul.js";
import { argValue, table, timeCalls, writeJson } from "./timing.js";

interface Shape {
  readonly model: string;
  readonly name: string;
  readonly n: number;
  readonly k: number;
}

// microsoft/bitnet-b1.58-2B-4T: hidden 2560, FFN 6912, 20 heads / 5 KV heads of 128.
const BITNET_2B: Shape[] = [
  { model: "bitnet-2B-4T", name: "attn q/o", n: 2560, k: 2560 },
  { model: "bitnet-2B-4T", name: "attn k/v", n: 640, k: 2560 },
  { model: "bitnet-2B-4T", name: "ffn gate/up", n: 6912, k: 2560 },
  { model: "bitnet-2B-4T", name: "ffn down", n: 2560, k: 6912 },
];
// The nano family's shapes (hidden 512, FFN 1536; the nano-model issue may still change them).
const NANO: Shape[] = [
  { model: "nano", name: "attn q/o", n: 512, k: 512 },
  { model: "nano", name: "ffn gate/up", n: 1536, k: 512 },
  { model: "nano", name: "ffn down", n: 512, k: 1536 },
];

const quick = process.argv.includes("--quick");
const threads = Number(argValue("--threads") ?? hardware().physicalCores);
const jsonPath = argValue("--json");
const batches = [1, 8, 64];

interface Row {
  model: string;
  shape: string;
  n: number;
  k: number;
  m: number;
  engine: "tritgate" | "onnxruntime-fp32";
  isa: Isa | "ort";
  type: WeightType | "F32";
  ms: number;
  runs: number;
  gops: number;
  weightGBs: number;
  roofline: number;
}

function randomWeights(n: number, k: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n * k);
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

interface ColdRow {
  isa: Isa;
  type: WeightType;
  ms: number;
  weightGBs: number;
  roofline: number;
}

/**
 * Decode reads weights that are in no cache: M=1 over a cycle of 16 distinct 6912x2560 matrices
 * (~70 MB, twice the L3), so every call streams its weights from DRAM — the figure that bounds
 * end-to-end decode, unlike the cache-resident rows above.
 */
async function coldGemv(isas: readonly Isa[], bandwidth: number): Promise<ColdRow[]> {
  const n = 6912;
  const k = 2560;
  const count = 16;
  const out = new Float32Array(n);
  const x = randomWeights(1, k, 5);
  const rows: ColdRow[] = [];
  for (const type of ["TQ2_0", "TQ1_0", "I2_S"] as const) {
    const matrices = Array.from({ length: count }, (_, i) =>
      quantize(type, randomWeights(n, k, i), n, k, { absmean: true }),
    );
    for (const isa of isas) {
      let next = 0;
      const t = await timeCalls(() => matmul(matrices[next++ % count] as PackedWeight, x, 1, { isa, out }), {
        budgetMs: quick ? 150 : 500,
        minRuns: 2 * count,
      });
      const bytes = matrices[0]?.data.length ?? 0;
      rows.push({
        isa,
        type,
        ms: t.median,
        weightGBs: bytes / t.median / 1e6,
        roofline: bytes / (t.median / 1e3) / bandwidth,
      });
    }
  }
  console.log("\nM=1 with weights streamed from DRAM (6912x2560, 16 matrices cycled):");
  console.log(
    table(
      ["isa", "type", "ms", "weight GB/s", "% of read bandwidth"],
      rows.map((r) => [r.isa, r.type, r.ms.toFixed(3), r.weightGBs.toFixed(1), `${(r.roofline * 100).toFixed(0)}%`]),
    ),
  );
  return rows;
}

async function main() {
  setThreads(threads);
  const hw = hardware();
  const isas = hw.available;
  console.log(
    `tritgate kernels bench: ${hw.cpuModel}, ${hw.physicalCores} cores, ${threads} threads, paths ${isas.join("/")}`,
  );
  const bandwidth = readBandwidth(quick ? 1 << 28 : 1 << 30, 5);
  console.log(
    `read bandwidth (STREAM-like sum over ${quick ? 256 : 1024} MiB): ${(bandwidth / 1e9).toFixed(1)} GB/s\n`,
  );

  const rows: Row[] = [];
  const shapes = [...BITNET_2B, ...NANO];
  for (const shape of shapes) {
    const values = randomWeights(shape.n, shape.k, shape.n * 31 + shape.k);
    const weights = new Map<WeightType, PackedWeight>(
      TERNARY_TYPES.map((type) => [type, quantize(type, values, shape.n, shape.k, { absmean: true })]),
    );
    const ortSession = await createOrtMatmul(dequantize(weights.get("TQ2_0")!), shape.n, shape.k, threads);
    for (const m of batches) {
      const x = randomWeights(m, shape.k, m);
      const out = new Float32Array(m * shape.n);
      const ops = 2 * m * shape.n * shape.k;
      const record = (r: Omit<Row, "gops" | "weightGBs" | "roofline">, weightBytes: number) => {
        const seconds = r.ms / 1e3;
        const row = {
          ...r,
          gops: ops / seconds / 1e9,
          weightGBs: weightBytes / seconds / 1e9,
          roofline: weightBytes / seconds / bandwidth,
        };
        rows.push(row);
        return row;
      };
      const ort = await timeCalls(() => ortSession.run(x, m), { budgetMs: quick ? 100 : 300 });
      record(
        {
          ...shapeFields(shape),
          m,
          engine: "onnxruntime-fp32",
          isa: "ort",
          type: "F32",
          ms: ort.median,
          runs: ort.runs,
        },
        shape.n * shape.k * 4,
      );
      for (const isa of isas) {
        for (const type of TERNARY_TYPES) {
          const weight = weights.get(type)!;
          const slow = isa === "scalar";
          const t = await timeCalls(() => matmul(weight, x, m, { isa, out }), {
            budgetMs: quick || slow ? 100 : 300,
            minRuns: slow ? 2 : 5,
          });
          record(
            { ...shapeFields(shape), m, engine: "tritgate", isa, type, ms: t.median, runs: t.runs },
            weight.data.length,
          );
        }
      }
      process.stdout.write(".");
    }
    await ortSession.release();
  }
  console.log("\n");
  printTable(rows);
  const cold = await coldGemv(
    isas.filter((isa) => isa !== "scalar"),
    bandwidth,
  );
  const targets = checkTargets(rows);
  console.log(`\n${targets.map((t) => `${t.met ? "MET " : "MISS"} ${t.name}: ${t.detail}`).join("\n")}`);
  if (jsonPath) {
    writeJson(jsonPath, {
      bench: "kernels",
      date: new Date().toISOString(),
      machine: {
        cpu: hw.cpuModel,
        cores: hw.physicalCores,
        logicalCpus: cpus().length,
        features: hw.features,
        caches: hw.caches,
      },
      threads,
      readBandwidthGBs: bandwidth / 1e9,
      rows,
      cold,
      targets,
    });
    console.log(`\nwrote ${jsonPath}`);
  }
}

function shapeFields(shape: Shape) {
  return { model: shape.model, shape: `${shape.n}x${shape.k} ${shape.name}`, n: shape.n, k: shape.k };
}

function find(rows: Row[], n: number, k: number, m: number, isa: Row["isa"], type: Row["type"]): Row | undefined {
  return rows.find((r) => r.n === n && r.k === k && r.m === m && r.isa === isa && r.type === type);
}

function printTable(rows: Row[]) {
  const headers = ["shape (N x K)", "M", "engine/isa", "type", "ms", "GOP/s", "weight GB/s", "% roofline", "x vs ORT"];
  const body = rows.map((r) => {
    const ort = find(rows, r.n, r.k, r.m, "ort", "F32");
    return [
      `${r.model} ${r.shape}`,
      String(r.m),
      r.engine === "tritgate" ? r.isa : "onnxruntime",
      r.type,
      r.ms < 0.1 ? r.ms.toFixed(4) : r.ms.toFixed(3),
      r.gops.toFixed(1),
      r.weightGBs.toFixed(1),
      `${(r.roofline * 100).toFixed(0)}%`,
      ort ? (ort.ms / r.ms).toFixed(1) : "",
    ];
  });
  console.log(table(headers, body));
}

interface Target {
  name: string;
  met: boolean;
  detail: string;
}

function checkTargets(rows: Row[]): Target[] {
  const best = hardware().isa;
  const [n, k] = [6912, 2560];
  const targets: Target[] = [];
  const ort1 = find(rows, n, k, 1, "ort", "F32")!;
  const fastest = (["TQ2_0", "I2_S"] as const)
    .map((t) => find(rows, n, k, 1, best, t)!)
    .sort((a, b) => a.ms - b.ms)[0]!;
  const speedup = ort1.ms / fastest.ms;
  targets.push({
    name: "6912x2560 M=1: TQ2_0 or I2_S >= 10x onnxruntime fp32",
    met: speedup >= 10,
    detail: `${fastest.type} ${fastest.ms.toFixed(4)} ms vs ORT ${ort1.ms.toFixed(4)} ms = ${speedup.toFixed(1)}x`,
  });
  for (const type of ["TQ2_0", "I2_S"] as const) {
    const one = find(rows, n, k, 1, best, type)!;
    const sixtyFour = find(rows, n, k, 64, best, type)!;
    const perRow = one.ms / (sixtyFour.ms / 64);
    targets.push({
      name: `6912x2560 ${type}: M=64 >= 3x faster per row than M=1`,
      met: perRow >= 3,
      detail: `${(sixtyFour.ms / 64).toFixed(4)} ms/row vs ${one.ms.toFixed(4)} ms = ${perRow.toFixed(1)}x`,
    });
  }
  if (hardware().available.includes("avx2") && best === "avx512") {
    for (const type of ["TQ2_0", "I2_S"] as const) {
      const a512 = find(rows, n, k, 1, "avx512", type)!;
      const a2 = find(rows, n, k, 1, "avx2", type)!;
      targets.push({
        name: `6912x2560 ${type} M=1: avx512 >= 1.3x avx2`,
        met: a2.ms / a512.ms >= 1.3,
        detail: `${a512.ms.toFixed(4)} ms vs ${a2.ms.toFixed(4)} ms = ${(a2.ms / a512.ms).toFixed(2)}x`,
      });
    }
  }
  return targets;
}

await main();
