import { defineConfig } from 'tsup';

export default defineConfig({
  // io-worker (frame I/O thread) and stack-worker (stack thread): own entries, loaded by URL;
  // testing: the `./testing` export (links for the tests of packages above this one).
  entry: ['src/index.ts', 'src/io-worker.ts', 'src/stack-worker.ts', 'src/testing.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // import.meta.url locates io-worker; shim it in the CJS build.
  shims: true,
});
