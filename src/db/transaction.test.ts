/**
 * `transaction` against the driver behaviour it guards: a fake server (just enough of the protocol
 * for simple queries) that resets the connection in the middle of a transaction. The client runs in a
 * child process, because without the guard postgres.js may throw from a timer and end the process.
 */
import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";

/** A backend message: type byte, length, body. */
function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cstring = (s: string) => Buffer.from(`${s}\0`, "latin1");

/** Answers every simple query with an empty success; resets the connection right after `resetAfter`. */
function fakeServer(resetAfter: string): { server: Server; queries: string[]; connections: number } {
  const state = { server: undefined as unknown as Server, queries: [] as string[], connections: 0 };
  state.server = createServer((socket: Socket) => {
    state.connections += 1;
    let started = false;
    let buffer = Buffer.alloc(0);
    socket.on("error", () => undefined);
    socket.on("data", (data) => {
      buffer = Buffer.concat([buffer, data]);
      if (!started) {
        if (buffer.length < 4 || buffer.length < buffer.readInt32BE(0)) return;
        buffer = buffer.subarray(buffer.readInt32BE(0));
        started = true;
        // AuthenticationOk, BackendKeyData, ReadyForQuery (idle)
        socket.write(
          Buffer.concat([
            message("R", int32(0)),
            message("K", Buffer.concat([int32(1), int32(2)])),
            message("Z", Buffer.from("I")),
          ]),
        );
      }
      while (buffer.length >= 5 && buffer.length >= 1 + buffer.readInt32BE(1)) {
        const type = String.fromCharCode(buffer[0] as number);
        const body = buffer.subarray(5, 1 + buffer.readInt32BE(1));
        buffer = buffer.subarray(1 + buffer.readInt32BE(1));
        // simple queries ("Q") answer at once; extended ones (Parse ... Sync) at their Sync
        if (type === "Q" || type === "P") {
          // a Parse's body starts with the statement's name, then its text
          const text = (type === "P" ? body.subarray(body.indexOf(0) + 1) : body).toString("utf8").split("\0")[0];
          state.queries.push((text ?? "").trim());
        }
        if (type === "Q" || type === "S") {
          const extended = type === "S" ? [message("1"), message("2"), message("n")] : [];
          socket.write(Buffer.concat([...extended, message("C", cstring("OK")), message("Z", Buffer.from("T"))]));
          if (state.queries.at(-1) === resetAfter) setTimeout(() => socket.resetAndDestroy(), 20);
        }
      }
    });
  });
  return state;
}

/** Runs a transaction (`select 1`, a pause in which the connection is reset, `select 2`) in a child. */
function runChild(port: number): Promise<{ code: number | null; output: string }> {
  const module = new URL("./transaction.ts", import.meta.url).pathname;
  const code = `
    const { transaction } = await import(${JSON.stringify(module)});
    const { default: postgres } = await import("postgres");
    const sql = postgres({ host: "127.0.0.1", port: ${port}, user: "u", database: "d", fetch_types: false, max: 1, connect_timeout: 1, onnotice: () => {} });
    const outcome = await Promise.race([
      transaction(sql, async (tx, open) => {
        await tx\`select 1\`;
        await new Promise((r) => setTimeout(r, 300));
        await open();
        await tx\`select 2\`;
      }).then(() => "committed", (e) => "failed " + e.code),
      new Promise((r) => setTimeout(() => r("pending"), 3000)),
    ]);
    // time for a statement left running after the failure to be sent (or to throw)
    await new Promise((r) => setTimeout(r, 700));
    console.log(outcome);
    process.exit(0);
  `;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
      cwd: new URL("../..", import.meta.url).pathname,
    });
    let output = "";
    child.stdout.on("data", (d) => {
      output += String(d);
    });
    child.stderr.on("data", (d) => {
      output += String(d);
    });
    child.on("exit", (exitCode) => resolve({ code: exitCode, output }));
  });
}

describe("transaction (postgres.js)", () => {
  let server: Server | undefined;
  afterEach(() => {
    server?.close();
    server = undefined;
  });

  it("fails when its connection resets mid-way and sends no statement after that, on that connection or another", async () => {
    const fake = fakeServer("select 1");
    server = fake.server;
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    const address = fake.server.address();
    const port = typeof address === "object" && address ? address.port : 0;

    const { code, output } = await runChild(port);

    expect(output.trim().split("\n").at(-1)).toBe("failed CONNECTION_CLOSED");
    expect(code).toBe(0);
    expect(fake.queries).toEqual(["begin", "select 1"]);
  }, 30_000);
});
