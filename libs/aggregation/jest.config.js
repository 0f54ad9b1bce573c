module.exports = { ...require('../../jest.preset.js'), displayName: 'aggregation', rootDir: __dirname };
