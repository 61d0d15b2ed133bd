import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a as r,h as s}from"./chunks/chunk-UEBLY4RQ.mjs";import"./chunks/chunk-5BEN6JAN.mjs";try{let{warnings:o}=s(process.env);for(let t of o)process.stdout.write(`[postmortem] WARNING: ${t}
`)}catch(o){process.stdout.write(o instanceof r?`invalid settings: ${o.problems.join("; ")} `:`settings check failed: ${String(o)} `),process.exitCode=1}
