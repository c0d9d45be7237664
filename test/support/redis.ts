// Redis for tests: the shared instance of `scripts/services/redis.sh up`, unique key prefixes, and a throwaway server.
import { type ChildProcess, spawn } from "node:child_process";
import { connect, createServer } from "node:net";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:16379";

const HOW_TO_START = "run `bash scripts/services.sh up` as root (npm test does)";

let counter = 0;

/** A key prefix no other test (in this run or an earlier one) uses, so tests share one Redis without clashing. */
export function uniquePrefix(label = "t"): string {
  return `zrtest:${label}:${process.pid}:${Date.now().toString(36)}:${(counter++).toString(36)}:`;
}

/** Resolves when `host:port` answers PING with +PONG. */
export function redisPing(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

/** Throws a clear error unless the shared test Redis answers: tests that need it fail, never skip. */
export async function assertRedisUp(): Promise<void> {
  const url = new URL(REDIS_URL);
  const port = Number(url.port || 6379);
  if (!(await redisPing(url.hostname, port))) {
    throw new Error(`test Redis not answering at ${REDIS_URL}; ${HOW_TO_START}`);
  }
}

/** A free TCP port on loopback (the kernel picks it; it is released before the caller binds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export interface ThrowawayRedis {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: as a crash) and waits until it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that keeps the connection open but never answers (a hang, a partition). */
  pause(): void;
  resume(): void;
}

/**
 * A private redis-server child process on its own port, with nothing on disk, for tests that take the server down
 * (the shared instance is left alone). Needs `redis-server` on PATH (`scripts/services.sh up` installs it).
 */
export async function startThrowawayRedis(): Promise<ThrowawayRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"],
      { stdio: "ignore" },
    );
    child = proc;
    const spawnError = new Promise<never>((_, reject) =>
      proc.once("error", (err) => reject(new Error(`cannot start redis-server (${err.message}); ${HOW_TO_START}`))),
    );
    const deadline = Date.now() + 10_000;
    const answered = (async () => {
      while (Date.now() < deadline) {
        if (await redisPing("127.0.0.1", port, 200)) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`throwaway redis-server did not answer on port ${port} within 10 s`);
    })();
    await Promise.race([answered, spawnError]);
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await exited;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
  };
}
