import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{c as a,d as b,e as c}from"./chunk-IU4YX7QL.mjs";import"./chunk-47AYPZ7L.mjs";import"./chunk-5BEN6JAN.mjs";export{c as classifyDeath,b as exitStatusOf,a as signalNumber};
