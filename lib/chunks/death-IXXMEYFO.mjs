import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a,b,c}from"./chunk-IS2RM3RV.mjs";import"./chunk-5BEN6JAN.mjs";export{c as classifyDeath,b as exitStatusOf,a as signalNumber};
