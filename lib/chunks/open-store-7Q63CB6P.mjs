import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-LBZXYBV3.mjs";import"./chunk-SSUEVM5T.mjs";import"./chunk-Y6HBVR5R.mjs";import"./chunk-OJZBAFIG.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
