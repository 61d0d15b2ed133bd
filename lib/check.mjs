import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a as e,h as r,p as t}from"./chunks/chunk-OH6GPIDP.mjs";import"./chunks/chunk-5BEN6JAN.mjs";var p="POSTMORTEM_APP_MEMORY_LIMIT=";try{let{config:o,warnings:i}=t(process.env);for(let n of i)process.stdout.write(`[postmortem] WARNING: ${n}
`);let s=r(process.env.MEMORY_LIMIT,o.memoryReserve);s.message&&process.stdout.write(`[postmortem] ${s.message}
`),s.appLimit&&process.stdout.write(`${p}${s.appLimit}
`)}catch(o){process.stdout.write(o instanceof e?`invalid settings: ${o.problems.join("; ")} `:`settings check failed: ${String(o)} `),process.exitCode=1}
