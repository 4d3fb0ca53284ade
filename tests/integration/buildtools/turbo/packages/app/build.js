// Depends on lib's output (the runner builds lib first: "dependsOn": ["^build"]).
const fs = require("fs");
fs.mkdirSync("dist", { recursive: true });
const words = fs.readFileSync("../lib/dist/words.txt", "utf8").trim().split("\n");
fs.writeFileSync("dist/app.txt", words.map((w) => w.toUpperCase()).join(" ") + "\n");
console.log(`app: ${words.length} words`);
