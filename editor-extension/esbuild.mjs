// Bundles the extension into one file, dist/extension.js, as VS Code's guide recommends
// (https://code.visualstudio.com/api/working-with-extensions/bundling-extension): the .vsix
// then carries no node_modules, and the extension host loads one file instead of ~200.
//   node esbuild.mjs               development bundle with a source map
//   node esbuild.mjs --production  minified, no source map (what `vscode:prepublish` packs)
//   node esbuild.mjs --watch       rebuild on change
// esbuild does not type-check: `npm run check-types` (tsc --noEmit) does, before packaging.
import * as esbuild from 'esbuild';
import { rmSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/** Prints errors in the form the `$esbuild-watch` problem matcher reads. */
const problemMatcher = {
  name: 'problem-matcher',
  setup(build) {
    build.onStart(() => {
      if (watch) console.log('[watch] build started');
    });
    build.onEnd((result) => {
      for (const { text, location } of result.errors) {
        console.error(`✘ [ERROR] ${text}`);
        if (location) console.error(`    ${location.file}:${location.line}:${location.column}:`);
      }
      if (watch) console.log('[watch] build finished');
    });
  },
};

// A clean dist/: a production build must not ship a map left by a development one.
rmSync('dist', { recursive: true, force: true });

const ctx = await esbuild.context({
  entryPoints: ['src/extension.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minify: production,
  sourcemap: !production,
  sourcesContent: false,
  outfile: 'dist/extension.js',
  // Provided by the extension host at run time; never bundled.
  external: ['vscode'],
  logLevel: 'silent',
  plugins: [problemMatcher],
});
if (watch) {
  await ctx.watch();
} else {
  const result = await ctx.rebuild();
  await ctx.dispose();
  if (result.errors.length > 0) process.exit(1);
}
