module.exports = { ...require('../../jest.preset.js'), displayName: 'sketch', rootDir: __dirname };
