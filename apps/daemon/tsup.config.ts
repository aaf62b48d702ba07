import { defineConfig } from 'tsup';

export default defineConfig({
  // main: what bin/tapstackd.mjs runs when the package is installed from its tarball.
  entry: ['src/index.ts', 'src/main.ts'],
  format: ['esm'],
  dts: false,
  sourcemap: true,
  clean: true,
  target: 'es2022',
});
