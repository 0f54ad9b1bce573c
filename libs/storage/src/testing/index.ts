// @tma/storage/testing: a private, migrated embedded store per test file or benchmark.
export { openTestStore, type TestStore } from './test-store';
