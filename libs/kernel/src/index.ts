// @tma/kernel: the TMA eBPF object from user space, through koffi -> libbpf.so.1: load it (open, .rodata knobs,
// load), attach it (XDP, TC by tcx or netlink), read its sketches by epoch, detach and close. Test helpers live
// behind @tma/kernel/testing, never here.
export * from './block';
export * from './layout';
export * from './libbpf';
export * from './loader';
export * from './pins';
export * from './reader';
export * from './state-map';
