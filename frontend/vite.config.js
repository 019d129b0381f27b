// Builds the console into the Python package (src/dataquality/server/static), which the FastAPI app
// serves; the package build (hatch_build.py) runs this. Nothing in the output may reference an
// external URL: every asset is bundled, fonts are the system's.
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// XML namespace names are identifiers that the DOM compares as strings, never fetched.
const NAMESPACES = new Set(['http://www.w3.org/2000/svg', 'http://www.w3.org/1999/xhtml', 'http://www.w3.org/1998/Math/MathML',
  'http://www.w3.org/1999/xlink', 'http://www.w3.org/XML/1998/namespace', 'http://www.w3.org/2000/xmlns/']);

// Libraries put links in their error messages ("see https://..."); the console is offline, so keep
// the words and drop the scheme: no external URL is left in the built assets.
function noExternalUrls() {
  const url = /https?:\/\/[^\s"'`)<>\\]+/g;
  const scrub = (code) => code.replace(url, (u) => {
    if (NAMESPACES.has(u) || /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])([:/]|$)/.test(u)) return u;
    return u.replace(/^https?:\/\//, '');
  });
  return {
    name: 'dq-no-external-urls',
    enforce: 'post',
    renderChunk(code) {
      return { code: scrub(code), map: null };
    },
    generateBundle(_, bundle) {
      for (const f of Object.values(bundle)) {
        if (f.type === 'asset' && typeof f.source === 'string') f.source = scrub(f.source);
      }
    },
  };
}

export default defineConfig({
  plugins: [preact(), noExternalUrls()],
  base: '/',
  build: {
    outDir: '../src/dataquality/server/static',
    emptyOutDir: true,
    target: 'es2020',
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
  esbuild: { legalComments: 'none' },
  server: { proxy: { '/api': 'http://127.0.0.1:8765' } },
});
