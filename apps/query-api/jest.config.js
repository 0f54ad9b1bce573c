module.exports = { ...require('../../jest.preset.js'), displayName: 'query-api', rootDir: __dirname };
