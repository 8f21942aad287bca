/**
 * A small ONNX graph builder over onnx-proto: typed graph inputs/outputs with symbolic dims,
 * initializers stored as raw little-endian bytes, nodes with attributes, deduplicated small
 * constants, and a structural check. Models target IR version 8 and the ai.onnx opset 17.
 *
 * Values are referred to by name; `node` returns the names of its outputs (generated unless
 * given), so a graph reads as a sequence of calls: `const y = b.op("Relu", [x])`.
 */
import onnxProto, { type onnx as OnnxTypes } from "onnx-proto";
import { numberToHalfBits } from "../../util/half.js";

const { onnx } = onnxProto;

export const ONNX_IR_VERSION = 8;
export const ONNX_OPSET = 17;

export type ElemType = "float32" | "float16" | "int64" | "int32" | "int8" | "uint8" | "bool";

const ELEM_TYPE_IDS: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  int32: onnx.TensorProto.DataType.INT32,
  int8: onnx.TensorProto.DataType.INT8,
  uint8: onnx.TensorProto.DataType.UINT8,
  bool: onnx.TensorProto.DataType.BOOL,
};

const ELEM_BYTES: Record<ElemType, number> = {
  float32: 4,
  float16: 2,
  int64: 8,
  int32: 4,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** The TensorProto.DataType number of an element type (for Cast's `to`, ConstantOfShape, ...). */
export function elemTypeId(type: ElemType): number {
  return ELEM_TYPE_IDS[type];
}

/** A dimension: a fixed size, or a symbolic name shared by every value with that dimension. */
export type Dim = number | string;

/**
 * Attribute values. Integers become INT and other numbers FLOAT; wrap a whole number in
 * `{ float }` to force FLOAT (e.g. `alpha: { float: 1 }`). Arrays of numbers become INTS.
 */
export type AttributeValue =
  | number
  | string
  | readonly number[]
  | { readonly float: number }
  | { readonly floats: readonly number[] }
  | { readonly tensor: OnnxTypes.ITensorProto }
  | { readonly graph: OnnxTypes.IGraphProto };

export type Attributes = Readonly<Record<string, AttributeValue | undefined>>;

export interface NodeOptions {
  /** output names, or how many outputs to generate names for (default 1) */
  readonly outputs?: number | readonly string[];
  readonly name?: string;
  readonly domain?: string;
}

export interface BuilderOptions {
  readonly producerName?: string;
  readonly producerVersion?: string;
  readonly docString?: string;
}

type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;

const ARRAY_TYPES: Record<ElemType, { new (n: number): TensorData; readonly name: string }> = {
  float32: Float32Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function attribute(name: string, value: AttributeValue): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === "number") {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (typeof value === "string") return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) {
    const ints = value as readonly number[];
    if (!ints.every(Number.isInteger)) throw new Error(`attribute ${name}: use { floats } for non-integer lists`);
    return { name, type: T.INTS, ints: [...ints] };
  }
  if ("float" in value) return { name, type: T.FLOAT, f: value.float };
  if ("floats" in value) return { name, type: T.FLOATS, floats: [...value.floats] };
  if ("tensor" in value) return { name, type: T.TENSOR, t: value.tensor };
  if ("graph" in value) return { name, type: T.GRAPH, g: value.graph };
  throw new Error(`attribute ${name} has an unsupported value`);
}

function valueInfo(name: string, type: ElemType, dims: readonly Dim[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM_TYPE_IDS[type],
        shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/** Where large initializers go when a model is saved with external data (beside the .onnx file). */
export interface ExternalDataOptions {
  /** file name of the data file, relative to the model file */
  readonly location: string;
  /** initializers of at least this many bytes go external (default 1024) */
  readonly threshold?: number;
  /** offset alignment inside the data file (default 4096) */
  readonly alignment?: number;
}

export interface SerializedModel {
  /** the ModelProto bytes */
  readonly model: Uint8Array;
  /** the external data file's contents, in order (empty without external data) */
  readonly data: readonly Uint8Array[];
  readonly dataBytes: number;
}

export interface GraphValue {
  readonly name: string;
  readonly type: ElemType;
  readonly dims: readonly Dim[];
}

export class OnnxGraphBuilder {
  private readonly nodes: OnnxTypes.INodeProto[] = [];
  private readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly inputs: GraphValue[] = [];
  private readonly outputs: GraphValue[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;
  private scopes: string[] = [];
  private initializerBytesTotal = 0;

  constructor(
    readonly graphName: string,
    private readonly options: BuilderOptions = {},
  ) {}

  get nodeCount(): number {
    return this.nodes.length;
  }

  get initializerCount(): number {
    return this.initializers.length;
  }

  /** Bytes of raw initializer data (the bulk of the model file). */
  get initializerBytes(): number {
    return this.initializerBytesTotal;
  }

  get graphInputs(): readonly GraphValue[] {
    return this.inputs;
  }

  get graphOutputs(): readonly GraphValue[] {
    return this.outputs;
  }

  /** Runs `build` with generated names prefixed by `scope/` (nested scopes join). */
  scoped<T>(scope: string, build: () => T): T {
    this.scopes.push(scope);
    try {
      return build();
    } finally {
      this.scopes.pop();
    }
  }

  /** A fresh value name, `scope/base_N`. */
  fresh(base: string): string {
    let name: string;
    do name = [...this.scopes, `${base}_${this.counter++}`].join("/");
    while (this.names.has(name));
    return name;
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`ONNX value ${name} is defined twice`);
    this.names.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: readonly Dim[]): string {
    this.inputs.push({ name: this.claim(name), type, dims });
    return name;
  }

  /** Declares an existing value a graph output (see also `outputAs`). */
  output(name: string, type: ElemType, dims: readonly Dim[]): string {
    if (this.outputs.some((o) => o.name === name)) throw new Error(`ONNX output ${name} is declared twice`);
    this.outputs.push({ name, type, dims });
    return name;
  }

  /** Exposes `value` under the output name `name` (via Identity), and declares it. */
  outputAs(value: string, name: string, type: ElemType, dims: readonly Dim[]): string {
    this.node("Identity", [value], {}, { outputs: [name] });
    return this.output(name, type, dims);
  }

  /** An initializer from a typed array of the element type (float16 as raw Uint16Array bits); referenced, not copied. */
  initializer(name: string, type: ElemType, dims: readonly number[], data: TensorData): string {
    const count = dims.reduce((a, d) => a * d, 1);
    if (data.length !== count) {
      throw new Error(`initializer ${name}: ${data.length} values for shape [${dims.join(", ")}]`);
    }
    const want = ARRAY_TYPES[type];
    if (!(data instanceof want)) {
      throw new Error(`initializer ${name}: ${type} wants a ${want.name}, got ${data.constructor.name}`);
    }
    const bytes = new Uint8Array(data.buffer, data.byteOffset, count * ELEM_BYTES[type]);
    this.initializers.push({ name: this.claim(name), dataType: ELEM_TYPE_IDS[type], dims: [...dims], rawData: bytes });
    this.initializerBytesTotal += bytes.byteLength;
    return name;
  }

  floatInitializer(name: string, dims: readonly number[], data: Float32Array): string {
    return this.initializer(name, "float32", dims, data);
  }

  /**
   * A small constant (stored as an initializer), shared by every request for the same values:
   * `dims` defaults to a 1-D tensor of the values; pass [] for a scalar.
   */
  constant(type: ElemType, values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `${type}|${dims.join(",")}|${values.join(",")}`;
    const known = this.constants.get(key);
    if (known !== undefined) return known;
    let data: TensorData;
    switch (type) {
      case "float32":
        data = Float32Array.from(values);
        break;
      case "int64":
        data = BigInt64Array.from(values, (v) => BigInt(v));
        break;
      case "int32":
        data = Int32Array.from(values);
        break;
      case "int8":
        data = Int8Array.from(values);
        break;
      case "uint8":
      case "bool":
        data = Uint8Array.from(values);
        break;
      case "float16":
        data = Uint16Array.from(values, numberToHalfBits);
        break;
    }
    let name: string;
    let n = this.constants.size;
    do name = `const_${type}_${n++}`;
    while (this.names.has(name));
    this.initializer(name, type, dims, data);
    this.constants.set(key, name);
    return name;
  }

  ints(values: readonly number[], dims?: readonly number[]): string {
    return this.constant("int64", values, dims);
  }

  floats(values: readonly number[], dims?: readonly number[]): string {
    return this.constant("float32", values, dims);
  }

  /** Adds a node; returns its output names. Empty input names ("") mark omitted optional inputs. */
  node(opType: string, inputs: readonly string[], attributes: Attributes = {}, options: NodeOptions = {}): string[] {
    const given = options.outputs ?? 1;
    const outputs = typeof given === "number" ? Array.from({ length: given }, () => this.fresh(opType)) : [...given];
    for (const o of outputs) this.claim(o);
    const attrs = Object.entries(attributes)
      .filter((e): e is [string, AttributeValue] => e[1] !== undefined)
      .map(([k, v]) => attribute(k, v));
    this.nodes.push({
      opType,
      input: [...inputs],
      output: outputs,
      name: options.name ?? outputs[0] ?? this.fresh(opType),
      attribute: attrs,
      ...(options.domain ? { domain: options.domain } : {}),
    });
    return outputs;
  }

  /** A single-output node; returns the output name. */
  op(opType: string, inputs: readonly string[], attributes: Attributes = {}, output?: string): string {
    const [out] = this.node(opType, inputs, attributes, output === undefined ? {} : { outputs: [output] });
    return out as string;
  }

  /**
   * Structural problems a checker would report: node inputs that are neither graph inputs,
   * initializers nor outputs of earlier nodes; graph outputs nothing produces; nameless nodes.
   */
  problems(): string[] {
    const found: string[] = [];
    const defined = new Set<string>([...this.inputs.map((i) => i.name), ...this.initializers.map((t) => t.name ?? "")]);
    for (const node of this.nodes) {
      if (!node.opType) found.push(`node ${node.name} has no op type`);
      for (const i of node.input ?? []) {
        if (i !== "" && !defined.has(i)) found.push(`node ${node.name} (${node.opType}) reads undefined value ${i}`);
      }
      for (const o of node.output ?? []) defined.add(o);
    }
    for (const o of this.outputs) if (!defined.has(o.name)) found.push(`graph output ${o.name} is never produced`);
    return found;
  }

  toModel(external?: ExternalDataOptions): OnnxTypes.ModelProto {
    return this.assemble(external, []);
  }

  toBytes(): Uint8Array {
    return onnx.ModelProto.encode(this.toModel()).finish();
  }

  /**
   * The model with initializers of `threshold` bytes or more moved to an external data file
   * (ONNX's external data convention: location/offset/length entries), needed above protobuf's
   * 2 GB limit. Without `external`, the same as toBytes().
   */
  serialize(external?: ExternalDataOptions): SerializedModel {
    const data: Uint8Array[] = [];
    const model = onnx.ModelProto.encode(this.assemble(external, data)).finish();
    return { model, data, dataBytes: data.reduce((a, d) => a + d.byteLength, 0) };
  }

  private externalize(external: ExternalDataOptions, data: Uint8Array[]): OnnxTypes.ITensorProto[] {
    const threshold = external.threshold ?? 1024;
    const alignment = external.alignment ?? 4096;
    let offset = 0;
    return this.initializers.map((t) => {
      const raw = t.rawData;
      if (!raw || raw.byteLength < threshold) return t;
      const padding = (alignment - (offset % alignment)) % alignment;
      if (padding > 0) data.push(new Uint8Array(padding));
      offset += padding;
      data.push(raw);
      const entry = {
        ...t,
        rawData: undefined,
        dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
        externalData: [
          { key: "location", value: external.location },
          { key: "offset", value: String(offset) },
          { key: "length", value: String(raw.byteLength) },
        ],
      };
      offset += raw.byteLength;
      return entry;
    });
  }

  private assemble(external: ExternalDataOptions | undefined, data: Uint8Array[]): OnnxTypes.ModelProto {
    const problems = this.problems();
    if (problems.length > 0) throw new Error(`ONNX graph ${this.graphName} is malformed: ${problems.join("; ")}`);
    return onnx.ModelProto.create({
      irVersion: ONNX_IR_VERSION,
      opsetImport: [{ domain: "", version: ONNX_OPSET }],
      producerName: this.options.producerName ?? "tritgate",
      producerVersion: this.options.producerVersion ?? "",
      docString: this.options.docString ?? "",
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: external ? this.externalize(external, data) : this.initializers,
        input: this.inputs.map((i) => valueInfo(i.name, i.type, i.dims)),
        output: this.outputs.map((o) => valueInfo(o.name, o.type, o.dims)),
      },
    });
  }
}
