module.exports = { ...require('../../jest.preset.js'), displayName: 'rollup', rootDir: __dirname };
