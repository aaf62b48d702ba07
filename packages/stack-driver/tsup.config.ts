import { defineConfig } from 'tsup';

export default defineConfig({
  // io-worker is the frame I/O thread of threaded mode: its own entry, loaded by URL.
  entry: ['src/index.ts', 'src/io-worker.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  // import.meta.url locates io-worker; shim it in the CJS build.
  shims: true,
});
