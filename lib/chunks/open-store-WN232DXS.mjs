import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-KQDSN2A5.mjs";import"./chunk-3T325V4G.mjs";import"./chunk-Y6HBVR5R.mjs";import"./chunk-5VHIEUJY.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
