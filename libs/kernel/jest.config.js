// Loader, epoch reader and struct layouts on a real kernel: need root (or CAP_BPF + CAP_NET_ADMIN).
module.exports = { ...require('../../jest.preset.js'), displayName: 'kernel', rootDir: __dirname };
