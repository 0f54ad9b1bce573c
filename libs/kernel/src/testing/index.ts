// @tma/kernel/testing: what the kernel tests and benchmarks share and the product never uses: the root guard and
// object build, the object loaded for BPF_PROG_TEST_RUN with exact read-outs, netlink attachments and namespaces,
// and a veth pair with a UDP sender.
import * as path from 'node:path';

export * from './host';
export * from './netlink';
export * as packets from './packets';
export * from './test-kernel';
export * from './veth';

/** Worker-thread script that runs BPF_PROG_TEST_RUN in a loop (plain JS: workers have no TypeScript loader). */
export const TEST_RUN_WORKER = path.join(__dirname, 'run-worker.js');
