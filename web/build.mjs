// Builds the page into the directory given as the only argument (`npm run build` writes
// ../internal/webui/dist, which the front door embeds): src/main.ts bundled and minified
// with esbuild into app.js, static/style.css minified, static/index.html copied. The output
// depends only on the sources and package-lock.json, so a test can rebuild it and compare.
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";

const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUTDIR");
  process.exit(2);
}
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const common = { bundle: true, minify: true, logLevel: "warning", charset: "utf8" };
await build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: join(out, "app.js"),
  format: "esm",
  target: ["es2022", "chrome100", "firefox100", "safari15"],
});
await build({ ...common, entryPoints: ["static/style.css"], outfile: join(out, "style.css") });
for (const name of await readdir("static")) {
  if (name.endsWith(".html")) {
    await copyFile(join("static", name), join(out, name));
  }
}
