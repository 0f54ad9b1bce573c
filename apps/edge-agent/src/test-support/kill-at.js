#!/usr/bin/env node
// The agent's CLI (the built dist/main.js) that SIGKILLs itself at one point of a snapshot, the N-th time it gets
// there (TMA_TEST_KILL_AT=POINT:N): the worst moments for a crash, hit on purpose. Points, in a snapshot's order:
//   flipped    the epoch flipped and the idle copy read, nothing recorded yet
//   sequenced  its sequence taken (state.json saved), before the spool write or the print
//   spooled    spooled (or printed), before its generation is marked handed out
//   marked     marked handed out, before the copy is zeroed
// Arguments and environment as main.js.
'use strict';
const kernel = require('@tma/kernel');
const { AgentState } = require('../../dist/agent-state');

const [point, nth] = (process.env.TMA_TEST_KILL_AT ?? '').split(':');
let calls = 0;

function die() {
  process.stderr.write(JSON.stringify({ level: 'info', event: 'test_kill', point, nth: Number(nth) }) + '\n');
  process.kill(process.pid, 'SIGKILL');
  for (;;); // never returns to the agent
}

function around(proto, name, when) {
  const original = proto[name];
  proto[name] = function (...args) {
    const hit = ++calls === Number(nth);
    if (hit && when === 'before') die();
    const r = original.apply(this, args);
    if (hit && when === 'after') die();
    return r;
  };
}

if (point === 'flipped') around(kernel.EpochReader.prototype, 'read', 'after');
else if (point === 'sequenced') around(AgentState.prototype, 'takeSequence', 'after');
else if (point === 'spooled') around(kernel.Pins.prototype, 'markDone', 'before');
else if (point === 'marked') around(kernel.EpochReader.prototype, 'clearCopy', 'before');
else if (point) throw new Error(`unknown TMA_TEST_KILL_AT point ${point}`);

require('../../dist/main');
