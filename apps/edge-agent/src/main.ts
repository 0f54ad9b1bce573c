#!/usr/bin/env node
// tma-edge-agent: see USAGE in config.ts. Exit codes: 0 done, 1 runtime failure, 2 bad configuration.
import * as v8 from 'node:v8';
// The agent's hot code runs once per interval; V8 would drop its bytecode between runs (bytecode flushing) and
// recompile it cold every time, which made each 10 s snapshot cost ~10x the CPU of a warm one.
v8.setFlagsFromString('--no-flush-bytecode');
import { Agent, agentVersion } from './agent';
import { ConfigError, USAGE, loadConfig } from './config';
import { jsonLogger } from './log';

async function main(): Promise<number> {
  const log = jsonLogger();
  let loaded;
  try {
    loaded = loadConfig(process.argv.slice(2), process.env);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`tma-edge-agent: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (loaded.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  if (loaded.version) {
    process.stdout.write(agentVersion() + '\n');
    return 0;
  }
  const agent = new Agent(loaded.config, { log });
  let stopping: Promise<void> | null = null;
  const stop = (signal: string) => {
    log('info', 'signal', { signal });
    stopping ??= agent.stop();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await agent.start();
  } catch (e) {
    log('error', 'start_failed', { error: e as Error });
    return 1;
  }
  try {
    await agent.done;
    if (loaded.config.once) await agent.stop();
    return 0;
  } catch (e) {
    log('error', 'agent_failed', { error: e as Error });
    await agent.stop().catch(() => undefined);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`tma-edge-agent: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
