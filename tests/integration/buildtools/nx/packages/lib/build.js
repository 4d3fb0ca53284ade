// A stand-in for a real build step: reads the sources, writes dist/.
const fs = require("fs");
fs.mkdirSync("dist", { recursive: true });
const words = fs.readFileSync("input.txt", "utf8").split(/\s+/).filter(Boolean).sort();
fs.writeFileSync("dist/words.txt", words.join("\n") + "\n");
console.log(`lib: ${words.length} words`);
