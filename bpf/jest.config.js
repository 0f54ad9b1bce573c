// The kernel data path's tests (BPF_PROG_TEST_RUN through libbpf): need root or CAP_BPF + CAP_NET_ADMIN.
module.exports = { ...require('../jest.preset.js'), displayName: 'bpf', rootDir: __dirname, testTimeout: 300000 };
