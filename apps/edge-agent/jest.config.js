module.exports = { ...require('../../jest.preset.js'), displayName: 'edge-agent', rootDir: __dirname };
