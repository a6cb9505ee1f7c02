// Real redis-server and PostgreSQL for the node tests, started from their binaries on free loopback ports in a temporary
// folder (PostgreSQL as the `postgres` user when the tests run as root), like Tests/Infrastructure/TestServers.cs.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";

export const SETUP_HINT = "Run ./scripts/test.sh (it installs redis-server and postgresql via scripts/install-prereqs.sh).";

/** The repository root (clients/typescript/build/test → four levels up). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..");

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

export interface RedisServer {
  readonly port: number;
  /** A new ioredis client on the server (the caller quits it). */
  client(): Redis;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "nexus-ts-redis-"));
  let child: ChildProcess;
  try {
    child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", "--loglevel", "warning"], { stdio: "ignore" });
  } catch (error) {
    throw new Error(`redis-server could not start (${(error as Error).message}). ${SETUP_HINT}`);
  }
  const exited = new Promise<void>(r => child.once("exit", () => r()));
  child.once("error", () => undefined);
  const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on("error", () => undefined);
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch (error) {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill("SIGKILL");
        throw new Error(`redis-server did not start on port ${port}: ${(error as Error).message}. ${SETUP_HINT}`);
      }
      probe.disconnect();
      await sleep(100);
    }
  }
  probe.disconnect();
  return {
    port,
    client: () => new Redis({ port, host: "127.0.0.1" }),
    stop: async () => {
      child.kill("SIGKILL");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface PostgresServer {
  readonly port: number;
  /** Npgsql connection string of the admin database. */
  readonly connectionString: string;
  /** Runs SQL with psql and returns its unaligned, tuples-only output. */
  psql(sql: string): string;
  stop(): void;
}

function postgresBin(): string {
  if (process.env.NEXUS_PG_BIN) {
    return process.env.NEXUS_PG_BIN;
  }
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter(v => existsSync(join(root, v, "bin", "postgres"))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) {
    throw new Error(`PostgreSQL server binaries (/usr/lib/postgresql/*/bin/postgres) were not found. ${SETUP_HINT}`);
  }
  return join(root, versions[0]!, "bin");
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin();
  const port = await freePort();
  const root = mkdtempSync(join(tmpdir(), "nexus-ts-pg-"));
  const data = join(root, "data");
  const asRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const run = (file: string, args: string[]) =>
    asRoot ? execFileSync("runuser", ["-u", "postgres", "--", file, ...args], { stdio: "pipe" }) : execFileSync(file, args, { stdio: "pipe" });
  if (asRoot) {
    // PostgreSQL refuses to run as root: hand the folder to the postgres system user.
    chmodSync(root, 0o755);
    execFileSync("chown", ["-R", "postgres:postgres", root]);
  }
  run(join(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
  const options = `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  run(join(bin, "pg_ctl"), ["-D", data, "-l", join(root, "postgres.log"), "-w", "-t", "60", "-o", options, "start"]);
  return {
    port,
    connectionString: `Host=127.0.0.1;Port=${port};Username=postgres;Database=postgres`,
    psql: sql => execFileSync("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql], { encoding: "utf8" }),
    stop: () => {
      try {
        run(join(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"]);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
}
