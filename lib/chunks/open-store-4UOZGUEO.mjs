import{createRequire as __pmCreateRequire}from'node:module';const require=__pmCreateRequire(import.meta.url);
import{a}from"./chunk-7TT7HDCG.mjs";import"./chunk-S4PHUNIK.mjs";import"./chunk-LIFWK6AD.mjs";import"./chunk-PNMPPFCT.mjs";import"./chunk-5BEN6JAN.mjs";export{a as openStore};
