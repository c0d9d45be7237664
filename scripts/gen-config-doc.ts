// Writes docs/config.md from the config schema.
import { writeFileSync } from "node:fs";
import { configReferenceMarkdown } from "../shared/config/reference.ts";

writeFileSync(new URL("../docs/config.md", import.meta.url), configReferenceMarkdown());
console.log("docs/config.md written");
