// chdb publishes 'chdb/connection' through package.json "exports", which the workspace's classic "node"
// module resolution does not read; point the type checker at the same file Node loads at run time.
declare module 'chdb/connection' {
  export * from 'chdb/dist/connection/index';
}
