import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-MR2XSVEI.mjs";import"./chunk-35GZOJU4.mjs";import"./chunk-Y6HBVR5R.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
