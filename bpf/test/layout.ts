// The kernel's struct layouts as user space sees them have one definition: the edge agent's, which a test checks
// against the object's BTF. The kernel tests read maps through the same one.
export * from '../../apps/edge-agent/src/kernel/layout';
